"""American Carbon Registry's public exports: projects, issuances, retirements, cancellations.

ACR writes dates month first, date-times with AM/PM in GMT (``11/3/2025 7:10:41 PM``), project
ids as ``ACR1185`` and serial ranges as ``ACR-US-1185-2025-3078-1 to 85847``: the block
(``ACR-{country}-{project}-{vintage}-{batch}``), then the first and last unit, with
``last − first + 1`` the row's *Quantity of Credits*. Issuances carry no serial numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from registry.external.common import Cells, ExportFormat, Parsed, RowReader, SerialLayout, classify, read_rows
from registry.external.records import ExternalRecord

SOURCE = "american-carbon-registry"
PREFIX = "ACR"

_PROJECT_ID = re.compile(r"ACR(?P<id>[0-9]+)")

SERIAL = SerialLayout(
    shape="ACR-{country}-{project}-{vintage}-{batch}-{first} to {last}",
    pattern=re.compile(
        r"(?P<block>ACR-[A-Z]{2}-(?P<project>[0-9]+)-[0-9]{4}-[0-9]+)-(?P<first>[0-9]+) to (?P<last>[0-9]+)"
    ),
)

# ACR methodologies and protocols (as published, case-folded) whose removal method is certain.
# The ARB U.S. Forest protocol is left out: it covers reforestation, forest management and
# avoided conversion alike.
_METHODS = {
    "afforestation and reforestation of degraded lands": "afforestation-reforestation",
    "improved forest management (ifm) on non-federal u.s. forestlands": "other",
    "improved forest management (ifm) on canadian forestlands": "other",
    "arb compliance offset protocol: mine methane capture projects": "other",
    "arb compliance offset protocol: destruction of u.s. ozone depleting substances banks": "other",
    "arb compliance offset protocol: capturing and destroying methane from manure management systems": "other",
    "ecy compliance offset protocol: ozone depleting substances projects": "other",
    "destruction of ozone depleting substances (ods) from international sources": "other",
    "destruction of ozone depleting substances (ods) and high-global warming potential (gwp) foam": "other",
    "certified reclaimed hfc refrigerants, propellants, and fire suppressants": "other",
    "advanced refrigeration systems": "other",
    "plugging orphan oil and gas wells in the u.s. and canada": "other",
    "transition to advanced formulation blowing agents in foam manufacturing and use": "other",
}

# "Verified Removal" is "Yes" on removals and empty otherwise, which says nothing either way.
_VERIFIED_REMOVAL: dict[str, str | None] = {"yes": "removal", "no": None}


def projects(rows: Sequence[Cells]) -> Parsed:
    """Read ACR's project list: one ``project`` record per row, its current crediting period as the period.

    ``method`` is the published *Project Methodology/Protocol*.
    """
    return read_rows(SOURCE, "projects", rows, _project)


def _project(row: RowReader) -> ExternalRecord | None:
    project = row.project("Project ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("Project Methodology/Protocol")
    start, end = row.period("Current Crediting Period Start Date", "Current Crediting Period End Date", "us")
    return ExternalRecord(
        source=SOURCE,
        kind="project",
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Project Site Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        period_start=start,
        period_end=end,
    )


def issuances(rows: Sequence[Cells]) -> Parsed:
    """Read ACR's issuances: one ``issuance`` record per row, without serial (ACR publishes none here).

    ``quantity`` is *Total Credits Issued* (to the project and its buffer pool), the period the
    reporting period, ``date`` the day of *Date Issued (GMT)*.
    """
    return read_rows(SOURCE, "issuances", rows, _issuance)


def _issuance(row: RowReader) -> ExternalRecord | None:
    project = row.project("Project ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("Project Methodology/Protocol")
    start, end = row.period("ReportingPeriodBegin", "ReportingPeriodEnd", "us")
    return ExternalRecord(
        source=SOURCE,
        kind="issuance",
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Project Site Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        unit_class=row.choice("Verified Removal", "unit_class", _VERIFIED_REMOVAL),
        quantity=row.whole_number("Total Credits Issued", "quantity", required=True),
        vintage=row.year("Vintage"),
        period_start=start,
        period_end=end,
        date=row.day("Date Issued (GMT)", "us", "date", required=True),
    )


def retirements(rows: Sequence[Cells]) -> Parsed:
    """Read ACR's retirements: one ``retirement`` record per row.

    ``date`` is the day of *Status Effective (GMT)*, the period the vintage assignment period,
    ``beneficiary`` *Retired on Behalf of*; the serial is checked against *Quantity of Credits*.
    """
    return read_rows(SOURCE, "retirements", rows, _retirement)


def _retirement(row: RowReader) -> ExternalRecord | None:
    return _units(row, "retirement")


def cancellations(rows: Sequence[Cells]) -> Parsed:
    """Read ACR's cancellations: one ``cancellation`` record per row, read as retirements are."""
    return read_rows(SOURCE, "cancellations", rows, _cancellation)


def _cancellation(row: RowReader) -> ExternalRecord | None:
    return _units(row, "cancellation")


def _units(row: RowReader, kind: str) -> ExternalRecord | None:
    project = row.project("Project ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    quantity = row.whole_number("Quantity of Credits", "quantity", required=True)
    serial, quantity = row.serial("Credit Serial Numbers", SERIAL.read, project[1], quantity)
    method = row.text("Project Methodology/Protocol")
    start, end = row.period("Vintage Assignment Period Start Date", "Vintage Assignment Period End Date", "us")
    return ExternalRecord(
        source=SOURCE,
        kind=kind,
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Project Site Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        unit_class=row.choice("Verified Removal", "unit_class", _VERIFIED_REMOVAL),
        quantity=quantity,
        vintage=row.year("Vintage"),
        period_start=start,
        period_end=end,
        # ACR's cancellations file writes this column with two spaces; headers are read with spacing collapsed.
        date=row.day("Status Effective (GMT)", "us", "date", required=True),
        serial=serial,
        beneficiary=row.text("Retired on Behalf of") if kind == "retirement" else None,
    )


_PROJECT_COLUMNS = {"Project ID", "Project Name", "Project Methodology/Protocol", "Project Site Country"}
_UNIT_COLUMNS = _PROJECT_COLUMNS | {
    "Credit Serial Numbers",
    "Vintage",
    "Vintage Assignment Period Start Date",
    "Vintage Assignment Period End Date",
    "Quantity of Credits",
    "Status Effective (GMT)",
    "Verified Removal",
}

FORMATS = (
    ExportFormat(
        "projects",
        frozenset(_PROJECT_COLUMNS | {"Current Crediting Period Start Date", "Current Crediting Period End Date"}),
        projects,
    ),
    ExportFormat(
        "issuances",
        frozenset(
            _PROJECT_COLUMNS
            | {
                "Date Issued (GMT)",
                "Vintage",
                "ReportingPeriodBegin",
                "ReportingPeriodEnd",
                "Total Credits Issued",
                "Verified Removal",
            }
        ),
        issuances,
    ),
    ExportFormat("retirements", frozenset(_UNIT_COLUMNS | {"Retired on Behalf of"}), retirements),
    # "Cancellation Type" is not read, but only the cancellations file has it.
    ExportFormat("cancellations", frozenset(_UNIT_COLUMNS | {"Cancellation Type"}), cancellations),
)
"""The files ACR publishes, by the columns that recognise them."""
