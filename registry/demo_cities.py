"""The demo's five cities keeping their own accounts: inventories and claims.

``registry.demo`` retires credits for the cities of ``shared/data/cities/scenarios.md``; this
module adds what the cities themselves log, so that each city's net-emissions statement
(registry.balance) shows its scenario:

1. Turku 2029, the pass case: 129,000 t gross, 40,000 t of urban forest inside the boundary,
   89,000 t of claimed removal credits; net 0.
2. Helsinki 2030, over the cap: 1,200,000 t gross, all compensated with claimed credits,
   34% of the 1990 base year, so the statement warns.
3. Bogotá 2022, outside the EU: the published inventory; its Colombian removal credits carry
   no corresponding adjustment, so the claim counts as a contribution only; net = gross.
4. Melbourne council operations FY2013-14: 51,030 t of avoidance credits retired, never
   claimed (a claim would be refused: they are not removals); net = gross.
5. Espoo, the sold sink: its inventory counts the municipal forest's 10,000 t removal, whose
   credits the city sold, so the statement adds 10,000 t to its positive side.

Figures marked (published) are from the scenarios file's sources; everything else is
constructed for the scenario and says so. Sector lines follow the GHG Protocol for Cities
(GPC); Finnish cities' district heat is reported as purchased energy (scope 2), as HSY's
consumption-based reporting does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry import commands
from registry.serials import SerialRange

Line = dict[str, Any]


def emitted(sector: str, scope: int, tonnes: int, subsector: str | None = None) -> Line:
    """One emission line of an inventory command."""
    line: Line = {"sector": sector, "scope": scope, "tonnes": tonnes}
    if subsector is not None:
        line["subsector"] = subsector
    return line


@dataclass(frozen=True)
class CityInventory:
    """One ``inventory`` event of the demo: a city's emissions (and removals) for a year."""

    city: str
    year: int
    emissions: tuple[Line, ...]
    removals: tuple[Line, ...] = ()
    base_year: bool = False
    period: tuple[str, str] | None = None

    def command(self, origin: str) -> commands.Command:
        return commands.inventory(
            origin,
            self.city,
            self.year,
            emissions=self.emissions,
            removals=self.removals,
            base_year=self.base_year,
            period=self.period,
        )


# Turku. The 1990 base year is constructed (about 1,286,000 t, so that the −90% target leaves
# about 129,000 t). 2029 scales the published 2020 figures (606,500 t: road transport 153,500,
# electricity 152,600, district heating 115,000, the other 185,400) to 129,000 t; the split of
# the other 39,434 t among sectors is constructed.
TURKU_1990 = CityInventory(
    "turku",
    1990,
    (
        emitted("stationary-energy", 2, 520_000, "district heating"),
        emitted("stationary-energy", 2, 330_000, "grid-supplied electricity"),
        emitted("stationary-energy", 1, 120_000, "residential and commercial fuel combustion"),
        emitted("transport", 1, 210_000, "on-road"),
        emitted("transport", 1, 30_000, "waterborne navigation"),
        emitted("waste", 1, 46_000, "solid waste disposal"),
        emitted("ippu", 1, 10_000),
        emitted("afolu", 1, 20_000, "livestock and agriculture"),
    ),
    base_year=True,
)
TURKU_2029 = CityInventory(
    "turku",
    2029,
    (
        emitted("transport", 1, 32_649, "on-road"),  # 153,500 × 129,000 / 606,500
        emitted("stationary-energy", 2, 32_457, "grid-supplied electricity"),  # 152,600 × 129,000 / 606,500
        emitted("stationary-energy", 2, 24_460, "district heating"),  # 115,000 × 129,000 / 606,500
        # The other 39,434 t (185,400 × 129,000 / 606,500), split constructed:
        emitted("stationary-energy", 1, 9_000, "residential and commercial fuel combustion"),
        emitted("transport", 1, 7_500, "waterborne navigation"),
        emitted("transport", 1, 5_000, "off-road"),
        emitted("waste", 1, 6_000, "solid waste disposal"),
        emitted("waste", 1, 2_500, "wastewater treatment and discharge"),
        emitted("ippu", 1, 3_000),
        emitted("afolu", 1, 6_434, "livestock and agriculture"),
    ),
    removals=(
        {
            "method": "afforestation-reforestation",
            "durability": "temporary",
            "tonnes": 40_000,
            "description": "urban forest growth inside the city (constructed)",
        },
    ),
)

# Helsinki. The 1990 total is published (3,514,000 t); its split, and the 2030 inventory
# (1,200,000 t), are constructed.
HELSINKI_1990 = CityInventory(
    "helsinki",
    1990,
    (
        emitted("stationary-energy", 2, 1_650_000, "district heating"),
        emitted("stationary-energy", 2, 1_050_000, "grid-supplied electricity"),
        emitted("stationary-energy", 1, 150_000, "residential and commercial fuel combustion"),
        emitted("transport", 1, 520_000, "on-road"),
        emitted("transport", 1, 40_000, "waterborne navigation"),
        emitted("waste", 1, 70_000, "solid waste disposal"),
        emitted("ippu", 1, 14_000),
        emitted("afolu", 1, 20_000, "livestock and agriculture"),
    ),
    base_year=True,
)
HELSINKI_2030 = CityInventory(
    "helsinki",
    2030,
    (
        emitted("stationary-energy", 2, 420_000, "district heating"),
        emitted("stationary-energy", 2, 180_000, "grid-supplied electricity"),
        emitted("stationary-energy", 1, 40_000, "residential and commercial fuel combustion"),
        emitted("transport", 1, 450_000, "on-road"),
        emitted("transport", 1, 50_000, "waterborne navigation"),
        emitted("waste", 1, 35_000, "solid waste disposal"),
        emitted("ippu", 1, 15_000),
        emitted("afolu", 1, 10_000, "livestock and agriculture"),
    ),
)

# Bogotá: the 2022 inventory as published (9,910,882 t). The published "building energy"
# figure does not separate fuels from electricity; it is one stationary-energy line, put
# under scope 1. The district published no base-year inventory in the scenarios' sources.
BOGOTA_2022 = CityInventory(
    "bogota",
    2022,
    (
        emitted("transport", 1, 4_037_922),
        emitted("stationary-energy", 1, 3_778_506, "building energy"),
        emitted("waste", 1, 1_853_292, "solid waste disposal"),
        emitted("waste", 1, 163_080, "wastewater treatment and discharge"),
        emitted("afolu", 1, 78_082),
    ),
)

# Melbourne council operations report by Australian fiscal year (July to June); the reporting
# year is the year the period ends in. The totals are published (FY2011-12 base year 52,059 t,
# FY2013-14 51,030 t); their splits are constructed.
MELBOURNE_FY2012 = CityInventory(
    "melbourne",
    2012,
    (
        emitted("stationary-energy", 2, 27_000, "buildings electricity"),
        emitted("stationary-energy", 2, 12_500, "street lighting"),
        emitted("stationary-energy", 1, 4_200, "natural gas"),
        emitted("stationary-energy", 3, 2_859, "transmission and distribution losses"),
        emitted("transport", 1, 3_100, "council fleet"),
        emitted("waste", 3, 2_400, "operational waste"),
    ),
    base_year=True,
    period=("2011-07-01", "2012-06-30"),
)
MELBOURNE_FY2014 = CityInventory(
    "melbourne",
    2014,
    (
        emitted("stationary-energy", 2, 26_300, "buildings electricity"),
        emitted("stationary-energy", 2, 12_400, "street lighting"),
        emitted("stationary-energy", 1, 4_100, "natural gas"),
        emitted("stationary-energy", 3, 2_930, "transmission and distribution losses"),
        emitted("transport", 1, 3_000, "council fleet"),
        emitted("waste", 3, 2_300, "operational waste"),
    ),
    period=("2013-07-01", "2014-06-30"),
)

# Espoo: all figures constructed. The inventory for 2028 (the monitoring year of the forest
# batch that the city sold) counts the forest's removal and links it to the project, so the
# statement adds the sold credits to the positive side (registry.balance, JRC guidance). The
# removal line counts the batch's 10,000 t of tradable credits; its other 2,000 t sit in the
# project's buffer pool against reversals.
ESPOO_1990 = CityInventory(
    "espoo",
    1990,
    (
        emitted("stationary-energy", 2, 480_000, "district heating"),
        emitted("stationary-energy", 2, 300_000, "grid-supplied electricity"),
        emitted("stationary-energy", 1, 90_000, "residential and commercial fuel combustion"),
        emitted("transport", 1, 230_000, "on-road"),
        emitted("waste", 1, 30_000, "solid waste disposal"),
        emitted("ippu", 1, 10_000),
        emitted("afolu", 1, 10_000, "livestock and agriculture"),
    ),
    base_year=True,
)
ESPOO_2028 = CityInventory(
    "espoo",
    2028,
    (
        emitted("stationary-energy", 2, 95_000, "district heating"),
        emitted("stationary-energy", 2, 55_000, "grid-supplied electricity"),
        emitted("stationary-energy", 1, 15_000, "residential and commercial fuel combustion"),
        emitted("transport", 1, 130_000, "on-road"),
        emitted("waste", 1, 12_000, "solid waste disposal"),
        emitted("ippu", 1, 6_000),
        emitted("afolu", 1, 7_000, "livestock and agriculture"),
    ),
    removals=(
        {
            "method": "afforestation-reforestation",
            "durability": "temporary",
            "tonnes": 10_000,
            "project": "espoo-forest-1",
            "description": "municipal forest, continuous-cover management",
        },
    ),
)

INVENTORIES: tuple[CityInventory, ...] = (
    TURKU_1990,
    TURKU_2029,
    HELSINKI_1990,
    HELSINKI_2030,
    BOGOTA_2022,
    MELBOURNE_FY2012,
    MELBOURNE_FY2014,
    ESPOO_1990,
    ESPOO_2028,
)

CLAIM_YEARS: dict[str, int] = {"turku": 2029, "helsinki": 2030, "bogota": 2022}
"""The year each city claims its retirements for. Melbourne claims nothing: its avoidance
credits are not removals, so the claim would be refused (registry.claims, ``not-a-removal``)."""


def city_events(
    origin: str, retired: Mapping[str, Sequence[tuple[int, SerialRange]]]
) -> list[tuple[commands.Command, str]]:
    """The cities' inventories and claims, each with the account that signs it, in log order.

    ``retired`` maps a city to the retirements made for it: (log index, units). Each city
    claims every retirement made for it, whole, for its year in :data:`CLAIM_YEARS`.
    """
    events: list[tuple[commands.Command, str]] = []
    for inventory in INVENTORIES:
        events.append((inventory.command(origin), inventory.city))
        year = CLAIM_YEARS.get(inventory.city)
        if year is None or inventory.year != year:
            continue
        for index, serial in retired.get(inventory.city, ()):
            events.append((commands.claim(origin, inventory.city, index, str(serial), year), inventory.city))
    return events
