"""The registry's controlled vocabulary: roles, removal methods, unit types, cancellation reasons.

The string values are part of the event format (DESIGN.md §4) and never change meaning.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an account may do (DESIGN.md §1, "Who uses it")."""

    OPERATOR = "operator"
    VERIFIER = "verifier"
    SUPPLIER = "supplier"
    CITY = "city"
    BUYER = "buyer"
    AUDITOR = "auditor"

    @property
    def may_hold(self) -> bool:
        """Whether accounts of this role may hold credits."""
        return self in (Role.SUPPLIER, Role.CITY, Role.BUYER)

    @property
    def may_develop(self) -> bool:
        """Whether accounts of this role may register projects (a city's own forest, say)."""
        return self in (Role.SUPPLIER, Role.CITY)


class RemovalMethod(StrEnum):
    """How the project removes (or, outside removals, reduces or avoids) CO2."""

    DACCS = "daccs"
    BECCS = "beccs"
    BIOCHAR = "biochar"
    ENHANCED_WEATHERING = "enhanced-weathering"
    AFFORESTATION_REFORESTATION = "afforestation-reforestation"
    WETLAND_PEATLAND_RESTORATION = "wetland-peatland-restoration"
    SOIL_CARBON = "soil-carbon"
    LONG_LIVED_WOOD_PRODUCTS = "long-lived-wood-products"
    RENEWABLE_ENERGY = "renewable-energy"
    OTHER = "other"


class UnitType(StrEnum):
    """The type of unit a project issues.

    The first four are the unit types of the CRCF (Regulation (EU) 2024/3012, Art. 2); the
    last three classify units certified outside the CRCF.
    """

    PERMANENT_REMOVAL = "permanent-removal"
    CARBON_FARMING_SEQUESTRATION = "carbon-farming-sequestration"
    CARBON_STORAGE_IN_PRODUCTS = "carbon-storage-in-products"
    SOIL_EMISSION_REDUCTION = "soil-emission-reduction"
    REMOVAL = "removal"
    REDUCTION = "reduction"
    AVOIDANCE = "avoidance"

    @property
    def is_crcf(self) -> bool:
        return self in _CRCF

    @property
    def is_removal(self) -> bool:
        """Whether a unit removes CO2 (JRC guidance: only removals may compensate)."""
        return self in (
            UnitType.PERMANENT_REMOVAL,
            UnitType.CARBON_FARMING_SEQUESTRATION,
            UnitType.CARBON_STORAGE_IN_PRODUCTS,
            UnitType.REMOVAL,
        )

    @property
    def is_temporary(self) -> bool:
        """Whether units of this CRCF type expire at the end of their monitoring period (CRCF Art. 2)."""
        return self in (UnitType.CARBON_FARMING_SEQUESTRATION, UnitType.CARBON_STORAGE_IN_PRODUCTS)


_CRCF = frozenset(
    {
        UnitType.PERMANENT_REMOVAL,
        UnitType.CARBON_FARMING_SEQUESTRATION,
        UnitType.CARBON_STORAGE_IN_PRODUCTS,
        UnitType.SOIL_EMISSION_REDUCTION,
    }
)


class GpcSector(StrEnum):
    """The sectors of a city inventory (GHG Protocol for Cities, GPC, ch. 4)."""

    STATIONARY_ENERGY = "stationary-energy"
    TRANSPORT = "transport"
    WASTE = "waste"
    IPPU = "ippu"  # industrial processes and product use
    AFOLU = "afolu"  # agriculture, forestry and other land use


class CancellationReason(StrEnum):
    """Why the operator cancels units."""

    REVERSAL = "reversal"  # the carbon was released (fire, leakage): drawn from the buffer pool first
    INVALIDATION = "invalidation"  # the units should never have been issued
    CORRECTION = "correction"  # an administrative error is corrected
    EXPORT = "export"  # the units move to another registry, which now counts them


class BlockStatus(StrEnum):
    """Where a block of units stands. Only ``held`` and ``buffer`` blocks ever change again."""

    HELD = "held"
    BUFFER = "buffer"
    RETIRED = "retired"
    CANCELLED = "cancelled"
