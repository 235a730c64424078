"""Verra's public exports: the project list and the VCU transactions.

Verra publishes one ``transactions`` listing of VCU blocks (the "VCUs" search of the Verra
Registry). Each row is a block of units with its serial range; the listing has no column
saying what happened to it:

* a row with a *Retirement/Cancellation Date* records units retired, or cancelled: it is a
  ``cancellation`` when its *Retirement Reason* says so (contains "cancel") and a
  ``retirement`` otherwise. No row of the sample says so, and 13 of its 100 dated rows publish
  no reason at all: Verra's listing does not tell their retirements from their cancellations,
  so they are taken as retirements;
* every other row records units issued (and still active), dated by its *Issuance Date*.

Serial numbers are printed ``{batch}-{first}-{last}-VCS-VCU-{…}-{project}-{DDMMYYYY}-{DDMMYYYY}-{n}``;
the part after the two unit numbers names the block, and ``last − first + 1`` is the row's
*Quantity Issued*.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from registry.external.common import (
    Cells,
    ExportFormat,
    Parsed,
    RowReader,
    SerialLayout,
    classify,
    read_rows,
    unit_class_from_labels,
)
from registry.external.records import ExternalRecord

SOURCE = "verra"
PREFIX = "VCS"

_PROJECT_ID = re.compile(r"(?P<id>[0-9]+)")

# 19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1: issuance batch, first
# and last unit, then the block: VCS-VCU, the VCU batch, VER, country, sectoral scope, project,
# vintage start and end (DDMMYYYY), and a final flag.
SERIAL = SerialLayout(
    shape="{batch}-{first}-{last}-VCS-VCU-{n}-VER-{country}-{scope}-{project}-{DDMMYYYY}-{DDMMYYYY}-{n}",
    pattern=re.compile(
        r"[0-9]+-(?P<first>[0-9]+)-(?P<last>[0-9]+)-"
        r"(?P<block>VCS-VCU-[0-9]+-VER-[A-Z]{2}-[0-9]+-(?P<project>[0-9]+)-[0-9]{8}-[0-9]{8}-[0-9]+)"
    ),
)

# Verra's methodologies (as its exports print them, case-folded) whose removal method is certain.
_METHODS = {
    "vm0047": "afforestation-reforestation",  # Afforestation, Reforestation and Revegetation
    "vm0044": "biochar",  # Biochar Utilization in Soil and Non-Soil Applications
    "vm0042": "soil-carbon",  # Improved Agricultural Land Management (soil organic carbon)
    "vm0033": "wetland-peatland-restoration",  # Tidal Wetland and Seagrass Restoration
    "vm0036": "wetland-peatland-restoration",  # Rewetting Drained Temperate Peatlands
    "acm0002": "renewable-energy",  # Grid-connected electricity generation from renewable sources
    "acm0006": "renewable-energy",  # Electricity and heat generation from biomass
    "ams-i.a.": "renewable-energy",  # Electricity generation by the user
    "ams-i.c.": "renewable-energy",  # Thermal energy production with or without electricity
    "ams-i.d.": "renewable-energy",  # Grid connected renewable electricity generation
    "ams-i.f.": "renewable-energy",  # Renewable electricity generation for captive use and mini-grid
    # Methodologies that are certainly none of the vocabulary's specific methods.
    "acm0001": "other",  # Flaring or use of landfill gas
    "acm0008": "other",  # Abatement of methane from coal mines
    "acm0010": "other",  # GHG emission reductions from manure management systems
    "acm0022": "other",  # Alternative waste treatment processes
    "am0080": "other",  # Mitigation of GHG emissions with treatment of wastewater in aerobic plants
    "ams-i.e.": "other",  # Switch from non-renewable biomass for thermal applications by the user
    "ams-ii.c.": "other",  # Demand-side energy efficiency activities for specific technologies
    "ams-iii.ao.": "other",  # Methane recovery through controlled anaerobic digestion
    "ams-iii.av.": "other",  # Low greenhouse gas emitting safe drinking water production systems
    "ams-iii.c.": "other",  # Emission reductions by electric and hybrid vehicles
    "ams-iii.d.": "other",  # Methane recovery in animal manure management systems
    "ams-iii.f.": "other",  # Avoidance of methane emissions through composting
    "ams-iii.h.": "other",  # Methane recovery in wastewater treatment
    "vm0006": "other",  # Carbon Accounting for Mosaic and Landscape-scale REDD Projects
    "vm0015": "other",  # Avoided Unplanned Deforestation
    "vm0048": "other",  # Reducing Emissions from Deforestation and Forest Degradation
    "vm0050": "other",  # Energy Efficiency and Fuel-Switch Measures in Cookstoves
    "vm0051": "other",  # Improved Management in Rice Production Systems
    "vmr0006": "other",  # Installation of High Efficiency Firewood Cookstoves
}


def _removal_method(item: str) -> str | None:
    if item.startswith("ar-"):  # the CDM's afforestation and reforestation methodologies (AR-ACM…, AR-AMS…)
        return "afforestation-reforestation"
    return _METHODS.get(item)


# The labels Verra gives VCUs in "Additional Certifications" that say what the units are.
_UNIT_LABELS = {"carbon dioxide removals": "removal", "ghg emissions reductions": "reduction"}


def projects(rows: Sequence[Cells]) -> Parsed:
    """Read Verra's project list: one ``project`` record per row, its crediting period as the period.

    ``method`` is the published *Methodology* (``VM0015``, ``VMR0006; VM0050``).
    """
    return read_rows(SOURCE, "projects", rows, _project)


def _project(row: RowReader) -> ExternalRecord | None:
    project = row.project("ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("Methodology")
    start, end = row.period("Crediting Period Start Date", "Crediting Period End Date", "iso")
    return ExternalRecord(
        source=SOURCE,
        kind="project",
        row=row.row,
        project=project[0],
        project_name=row.text("Name"),
        country=row.country("Country/Area"),
        method=method,
        removal_method=classify(method, _removal_method),
        period_start=start,
        period_end=end,
    )


def transactions(rows: Sequence[Cells]) -> Parsed:
    """Read Verra's VCU listing: one ``issuance``, ``retirement`` or ``cancellation`` record per row.

    The kind of each row is decided as the module says. ``quantity`` is *Quantity Issued* (the
    block's units), checked against the serial range; the period is the vintage (*Vintage
    Start*–*Vintage End*) and ``vintage`` its year when the period lies within one year.
    ``unit_class`` comes from the "Carbon Dioxide Removals" / "GHG Emissions Reductions" labels.
    """
    return read_rows(SOURCE, "transactions", rows, _transaction)


def _transaction(row: RowReader) -> ExternalRecord | None:
    project = row.project("ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    if row.text("Retirement/Cancellation Date") is None:
        kind, date_column = "issuance", "Issuance Date"
    else:
        reason = row.text("Retirement Reason") or ""
        kind = "cancellation" if "cancel" in reason.casefold() else "retirement"
        date_column = "Retirement/Cancellation Date"
    quantity = row.whole_number("Quantity Issued", "quantity", required=True)
    serial, quantity = row.serial("Serial Number", SERIAL.read, project[1], quantity)
    start, end = row.period("Vintage Start", "Vintage End", "iso")
    method = row.text("Methodology")
    return ExternalRecord(
        source=SOURCE,
        kind=kind,
        row=row.row,
        project=project[0],
        project_name=row.text("Name"),
        country=row.country("Country/Area"),
        method=method,
        removal_method=classify(method, _removal_method),
        unit_class=unit_class_from_labels(row.text("Additional Certifications"), ";", _UNIT_LABELS),
        quantity=quantity,
        vintage=start.year if start is not None and end is not None and start.year == end.year else None,
        period_start=start,
        period_end=end,
        date=row.day(date_column, "iso", "date", required=True),
        serial=serial,
        beneficiary=row.text("Retirement Beneficiary") if kind != "issuance" else None,
    )


FORMATS = (
    ExportFormat(
        "projects",
        frozenset(
            {"ID", "Name", "Country/Area", "Methodology", "Crediting Period Start Date", "Crediting Period End Date"}
        ),
        projects,
    ),
    ExportFormat(
        "transactions",
        frozenset(
            {
                "Issuance Date",
                "Vintage Start",
                "Vintage End",
                "ID",
                "Name",
                "Country/Area",
                "Methodology",
                "Quantity Issued",
                "Serial Number",
                "Additional Certifications",
                "Retirement/Cancellation Date",
                "Retirement Beneficiary",
                "Retirement Reason",
            }
        ),
        transactions,
    ),
)
"""The files Verra publishes, by the columns that recognise them."""
