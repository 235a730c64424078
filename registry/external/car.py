"""Climate Action Reserve's public exports: projects, issuances, retirements, cancellations.

CAR writes dates ``MM/DD/YYYY``, project ids as ``CAR1335`` and serial ranges as
``CAR-1-US-1335-31-983-KS-2025-9205-1 to 5000``: the block (``CAR-{1|ROC}-{country}-{project}-…
-{vintage}-{batch}``, everything before the last number pair), then the first and last unit,
with ``last − first + 1`` the row's *Quantity of Offset Credits*. Issuances carry no serial
numbers; no file publishes a period or a retirement beneficiary as a field of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from registry.external.common import Cells, ExportFormat, Parsed, RowReader, SerialLayout, classify, read_rows
from registry.external.records import ExternalRecord

SOURCE = "climate-action-reserve"
PREFIX = "CAR"

_PROJECT_ID = re.compile(r"CAR(?P<id>[0-9]+)")

SERIAL = SerialLayout(
    shape="CAR-{1|ROC}-{country}-{project}-…-{vintage}-{batch}-{first} to {last}",
    pattern=re.compile(
        r"(?P<block>CAR-[0-9A-Z]+-[A-Z]{2}-(?P<project>[0-9]+)-[0-9A-Z-]+)-(?P<first>[0-9]+) to (?P<last>[0-9]+)"
    ),
)

# CAR project types (as published, case-folded) whose removal method is certain. "Forestry - MX"
# is left out: the Mexico Forest Protocol credits restoration and forest management alike.
_METHODS = {
    "reforestation": "afforestation-reforestation",
    "reforestation - arb compliance": "afforestation-reforestation",
    "soil enrichment": "soil-carbon",
    "improved forest management": "other",
    "improved forest management - arb compliance": "other",
    "avoided grassland conversion": "other",
    "adipic acid": "other",
    "landfill gas capture/combustion": "other",
    "livestock - arb compliance": "other",
    "livestock gas capture/combustion": "other",
    "low carbon cement": "other",
    "mine methane capture - arb compliance": "other",
    "nitric acid n2o- secondary catalyst": "other",
    "nitric acid n2o- tertiary catalyst": "other",
    "organic waste composting": "other",
    "ozone depleting substances - u.s. - arb compliance": "other",
    "ozone depleting substances - u.s. - wa eco compliance": "other",
}

_UNIT_CLASSES: dict[str, str | None] = {"reduction": "reduction", "removal": "removal"}


def projects(rows: Sequence[Cells]) -> Parsed:
    """Read CAR's project list: one ``project`` record per row; ``method`` is the *Project Type*."""
    return read_rows(SOURCE, "projects", rows, _project)


def _project(row: RowReader) -> ExternalRecord | None:
    project = row.project("Project ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("Project Type")
    return ExternalRecord(
        source=SOURCE,
        kind="project",
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Project Site Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
    )


def issuances(rows: Sequence[Cells]) -> Parsed:
    """Read CAR's issuances: one ``issuance`` record per row, without serial (CAR publishes none here).

    ``quantity`` is *Total Offset Credits Issued*, ``date`` *Date Issued*, ``unit_class`` the
    *Reduction/Removal* column.
    """
    return read_rows(SOURCE, "issuances", rows, _issuance)


def _issuance(row: RowReader) -> ExternalRecord | None:
    project = row.project("Project ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("Project Type")
    return ExternalRecord(
        source=SOURCE,
        kind="issuance",
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Project Site Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        unit_class=row.choice("Reduction/Removal", "unit_class", _UNIT_CLASSES),
        quantity=row.whole_number("Total Offset Credits Issued", "quantity", required=True),
        vintage=row.year("Vintage"),
        date=row.day("Date Issued", "us", "date", required=True),
    )


def retirements(rows: Sequence[Cells]) -> Parsed:
    """Read CAR's retirements: one ``retirement`` record per row, dated by *Status Effective*.

    CAR names no beneficiary in a field of its own (only in the free text of *Retirement
    Reason Details*), so ``beneficiary`` is ``None``.
    """
    return read_rows(SOURCE, "retirements", rows, _retirement)


def _retirement(row: RowReader) -> ExternalRecord | None:
    return _units(row, "retirement")


def cancellations(rows: Sequence[Cells]) -> Parsed:
    """Read CAR's cancellations: one ``cancellation`` record per row, read as retirements are."""
    return read_rows(SOURCE, "cancellations", rows, _cancellation)


def _cancellation(row: RowReader) -> ExternalRecord | None:
    return _units(row, "cancellation")


def _units(row: RowReader, kind: str) -> ExternalRecord | None:
    project = row.project("Project ID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    quantity = row.whole_number("Quantity of Offset Credits", "quantity", required=True)
    serial, quantity = row.serial("Offset Credit Serial Numbers", SERIAL.read, project[1], quantity)
    method = row.text("Project Type")
    return ExternalRecord(
        source=SOURCE,
        kind=kind,
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Project Site Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        unit_class=row.choice("Reduction/Removal", "unit_class", _UNIT_CLASSES),
        quantity=quantity,
        vintage=row.year("Vintage"),
        date=row.day("Status Effective", "us", "date", required=True),
        serial=serial,
    )


_PROJECT_COLUMNS = {"Project ID", "Project Name", "Project Type", "Project Site Country"}
_UNIT_COLUMNS = _PROJECT_COLUMNS | {
    "Vintage",
    "Offset Credit Serial Numbers",
    "Quantity of Offset Credits",
    "Status Effective",
    "Reduction/Removal",
}

FORMATS = (
    ExportFormat("projects", frozenset(_PROJECT_COLUMNS), projects),
    ExportFormat(
        "issuances",
        frozenset(_PROJECT_COLUMNS | {"Date Issued", "Reduction/Removal", "Vintage", "Total Offset Credits Issued"}),
        issuances,
    ),
    # "Retirement Reason" and "Cancellation Reason" are not read; they tell the two files apart.
    ExportFormat("retirements", frozenset(_UNIT_COLUMNS | {"Retirement Reason"}), retirements),
    ExportFormat("cancellations", frozenset(_UNIT_COLUMNS | {"Cancellation Reason"}), cancellations),
)
"""The files CAR publishes, by the columns that recognise them."""
