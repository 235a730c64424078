"""Gold Standard's public exports: projects, issuances, and retirements (with cancellations).

Gold Standard prints serial ranges in two layouts:

* its own, ``GS1-1-UG-GS11236-16-2024-30307-1-19149``: the block
  (``GS1-1-{country}-GS{project}-{n}-{vintage}-{batch}``) then the first and last unit;
* units first issued under the CDM (product type CER) keep the UN layout of the Kyoto
  registries, start and end each in full: ``RW-5-1463953-2-2-0-7014 - RW-5-1467609-2-2-0-7014``,
  that is ``{party}-{unit type}-{serial}-{original period}-{applicable period}-{LULUCF}-{CDM
  project}``. The block is every part but the serial, and the CDM project number is not the
  GSID, so it is not checked against it.

In both, ``last − first + 1`` is the row's *Quantity*.
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
from registry.external.records import ExternalRecord, ExternalSerial

SOURCE = "gold-standard"
PREFIX = "GS"

_PROJECT_ID = re.compile(r"(?P<id>[0-9]+)")

SERIAL = SerialLayout(
    shape="GS1-1-{country}-GS{project}-{n}-{vintage}-{batch}-{first}-{last}",
    pattern=re.compile(
        r"(?P<block>GS[0-9]+-[0-9]+-[A-Z]{2}-GS(?P<project>[0-9]+)-[0-9]+-[0-9]{4}-[0-9]+)-(?P<first>[0-9]+)-(?P<last>[0-9]+)"
    ),
)

_CDM_UNIT = (
    r"(?P<party{n}>[A-Z]{{2}})-(?P<type{n}>[0-9]+)-(?P<serial{n}>[0-9]+)-(?P<rest{n}>[0-9]+-[0-9]+-[0-9]+-[0-9]+)"
)
_CDM_SERIAL = re.compile(_CDM_UNIT.format(n=1) + " - " + _CDM_UNIT.format(n=2))
_CDM_SHAPE = "{party}-{type}-{start}-{period}-{period}-{LULUCF}-{project} - {party}-{type}-{end}-…"


def read_serial(text: str) -> tuple[ExternalSerial, str | None]:
    """The range of a Gold Standard serial in either layout, and the GSID it names (none for CDM units).

    Raises ``ValueError`` if ``text`` is in neither layout, or its two CDM halves name different blocks.
    """
    if not text.startswith("GS") and (match := _CDM_SERIAL.fullmatch(text)):
        start = (match["party1"], match["type1"], match["rest1"])
        if start != (match["party2"], match["type2"], match["rest2"]):
            raise ValueError(f"{text!r}: the start and end of the range name different CDM blocks")
        first, last = int(match["serial1"]), int(match["serial2"])
        if last < first:
            raise ValueError(f"{text!r} ends at {last}, before its first unit {first}")
        block = f"{match['party1']}-{match['type1']}-{match['rest1']}"
        return ExternalSerial(text=text, block=block, first=first, last=last), None
    try:
        return SERIAL.read(text)
    except ValueError:
        raise ValueError(f"{text!r} is a serial range of neither form {SERIAL.shape} nor {_CDM_SHAPE}") from None


# Gold Standard project types (case-folded) whose removal method is certain.
_METHODS = {
    "a/r": "afforestation-reforestation",
    "pv": "renewable-energy",
    "wind": "renewable-energy",
    "geothermal": "renewable-energy",
    "solar thermal - electricity": "renewable-energy",
    "biogas - electricity": "renewable-energy",
    "biogas - heat": "renewable-energy",
    "energy efficiency - domestic": "other",
    "energy efficiency - industrial": "other",
    "energy efficiency - transport sector": "other",
}

# The labels of "Label" that say what the units are ("ICVCM CCP, Emission Reduction").
_UNIT_LABELS = {"emission reduction": "reduction", "emission removal": "removal"}

# "Credit Status" in the retirements file.
_RETIRED_KINDS = {"retired": "retirement", "canceled": "cancellation", "cancelled": "cancellation"}


def projects(rows: Sequence[Cells]) -> Parsed:
    """Read Gold Standard's project list: one ``project`` record per row; ``method`` is the *Project Type*."""
    return read_rows(SOURCE, "projects", rows, _project)


def _project(row: RowReader) -> ExternalRecord | None:
    project = row.project("GSID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("Project Type")
    return ExternalRecord(
        source=SOURCE,
        kind="project",
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
    )


def issuances(rows: Sequence[Cells]) -> Parsed:
    """Read Gold Standard's issuances: one ``issuance`` record per row whose *Credit Status* is "Issued".

    The period is the monitoring period, ``date`` the *Issuance Date*, and the serial is checked
    against *Quantity* in either layout.
    """
    return read_rows(SOURCE, "issuances", rows, _issuance)


def _issuance(row: RowReader) -> ExternalRecord | None:
    status = row.text("Credit Status")
    if (status or "").casefold() != "issued":
        row.problem("kind", f"column 'Credit Status': {status!r} is not 'Issued'")
        return None
    return _units(row, "issuance", "Issuance Date")


def retirements(rows: Sequence[Cells]) -> Parsed:
    """Read Gold Standard's retirements: a ``retirement`` or ``cancellation`` record per row, by *Credit Status*.

    ``date`` is the *Retirement Date* (which Gold Standard leaves empty on some cancellations),
    ``beneficiary`` the *Using Entity* unless it is "Not Disclosed".
    """
    return read_rows(SOURCE, "retirements", rows, _retirement)


def _retirement(row: RowReader) -> ExternalRecord | None:
    status = row.text("Credit Status")
    kind = _RETIRED_KINDS.get((status or "").casefold())
    if kind is None:
        row.problem("kind", f"column 'Credit Status': {status!r} is neither 'Retired' nor 'Canceled'")
        return None
    return _units(row, kind, "Retirement Date")


def _units(row: RowReader, kind: str, date_column: str) -> ExternalRecord | None:
    project = row.project("GSID", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    quantity = row.whole_number("Quantity", "quantity", required=True)
    serial, quantity = row.serial("Serial Number", read_serial, project[1], quantity)
    start, end = row.period("Monitoring Period Start", "Monitoring Period End", "iso")
    method = row.text("Project Type")
    beneficiary = row.text("Using Entity") if kind != "issuance" else None
    return ExternalRecord(
        source=SOURCE,
        kind=kind,
        row=row.row,
        project=project[0],
        project_name=row.text("Project Name"),
        country=row.country("Country"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        unit_class=unit_class_from_labels(row.text("Label"), ",", _UNIT_LABELS),
        quantity=quantity,
        vintage=row.year("Vintage"),
        period_start=start,
        period_end=end,
        date=row.day(date_column, "iso", "date", required=True),
        serial=serial,
        beneficiary=None if beneficiary is not None and beneficiary.casefold() == "not disclosed" else beneficiary,
    )


_UNIT_COLUMNS = {
    "Vintage",
    "Credit Status",
    "Quantity",
    "GSID",
    "Project Name",
    "Country",
    "Project Type",
    "Monitoring Period Start",
    "Monitoring Period End",
    "Serial Number",
    "Label",
}

FORMATS = (
    ExportFormat("projects", frozenset({"GSID", "Project Name", "Country", "Project Type"}), projects),
    ExportFormat("issuances", frozenset(_UNIT_COLUMNS | {"Issuance Date"}), issuances),
    ExportFormat("retirements", frozenset(_UNIT_COLUMNS | {"Retirement Date", "Using Entity"}), retirements),
)
"""The files Gold Standard publishes, by the columns that recognise them."""
