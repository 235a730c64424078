"""Isometric's public exports: projects, issuances, retirements.

Isometric credits only carbon removals, in fractions of a tonne: each quantity is published
in tonnes (``credits``, ``2765.37``) and in kilograms (``credit_kgs``, ``2765370``). This
registry counts whole tonnes (one serial per tonne), so a quantity is taken from the kilograms
when it is a whole number of tonnes; a fractional quantity leaves ``quantity`` ``None`` with a
problem saying so. Isometric publishes no serial numbers, and its issuances name no country
(only the supplier's, which is not the project's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from registry.external.common import Cells, ExportFormat, Parsed, RowReader, classify, parse_decimal, read_rows
from registry.external.records import ExternalRecord

SOURCE = "isometric"
PREFIX = "ISOMETRIC"

_PROJECT_ID = re.compile(r"(?P<id>prj_[0-9A-Z]+)")

# Isometric protocols (protocol_slug, case-folded) whose removal method is certain.
# "biogenic-capture-and-storage" is left out: it does not say whether energy is generated.
_METHODS = {
    "biochar": "biochar",
    "direct-air-capture": "daccs",
    "enhanced-weathering-agriculture": "enhanced-weathering",
    "reforestation": "afforestation-reforestation",
    "bio-oil-geological-storage": "other",
    "biomass-geological-storage": "other",
    "subsurface-biomass": "other",
    "ocean-alkalinity-enhancement": "other",
    "river-alkalinity-enhancement": "other",
    "wastewater-alkalinity-enhancement": "other",
}

_TOTAL_TONNES = "credit_batch_size_total.credits"
_TOTAL_KG = "credit_batch_size_total.credit_kgs"


def projects(rows: Sequence[Cells]) -> Parsed:
    """Read Isometric's project list: one ``project`` record per row.

    ``method`` is the *protocol_slug*, the period the crediting period, ``country`` from the
    alpha-3 *country_code*.
    """
    return read_rows(SOURCE, "projects", rows, _project)


def _project(row: RowReader) -> ExternalRecord | None:
    project = row.project("id", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    method = row.text("protocol_slug")
    start, end = row.period("crediting_period_start", "crediting_period_end", "iso")
    return ExternalRecord(
        source=SOURCE,
        kind="project",
        row=row.row,
        project=project[0],
        project_name=row.text("name"),
        country=row.country("country_code"),
        method=method,
        removal_method=classify(method, _METHODS.get),
        unit_class="removal",
        period_start=start,
        period_end=end,
    )


def issuances(rows: Sequence[Cells]) -> Parsed:
    """Read Isometric's issuances: one ``issuance`` record per row, dated by *issued_at* (UTC).

    ``quantity`` is the batch's total (supplier and buffer pool) in whole tonnes, as the module says.
    """
    return read_rows(SOURCE, "issuances", rows, _issuance)


def _issuance(row: RowReader) -> ExternalRecord | None:
    project = row.project("project_id", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    return ExternalRecord(
        source=SOURCE,
        kind="issuance",
        row=row.row,
        project=project[0],
        unit_class="removal",
        quantity=_whole_tonnes(row),
        date=row.day("issued_at", "iso", "date", required=True),
    )


def retirements(rows: Sequence[Cells]) -> Parsed:
    """Read Isometric's retirements: one ``retirement`` record per row, dated by *retired_at* (UTC).

    The period is the single day of *sequestered_on*, the day the retired removal happened;
    ``beneficiary`` is *beneficiary.name*.
    """
    return read_rows(SOURCE, "retirements", rows, _retirement)


def _retirement(row: RowReader) -> ExternalRecord | None:
    project = row.project("project_id", PREFIX, _PROJECT_ID)
    if project is None:
        return None
    sequestered = row.day("sequestered_on", "iso", "period_start")
    return ExternalRecord(
        source=SOURCE,
        kind="retirement",
        row=row.row,
        project=project[0],
        unit_class="removal",
        quantity=_whole_tonnes(row),
        period_start=sequestered,
        period_end=sequestered,
        date=row.day("retired_at", "iso", "date", required=True),
        beneficiary=row.text("beneficiary.name"),
    )


def _whole_tonnes(row: RowReader) -> int | None:
    """The batch's quantity in whole tonnes, from its kilograms, checked against its tonnes."""
    kilograms = row.whole_number(_TOTAL_KG, "quantity", required=True)
    tonnes_text = row.text(_TOTAL_TONNES, "quantity", required=True)
    if kilograms is None or tonnes_text is None:
        return None
    try:
        tonnes = parse_decimal(tonnes_text)
    except ValueError as exc:
        row.problem("quantity", f"column {_TOTAL_TONNES!r}: {exc}")
        return None
    if tonnes * 1000 != kilograms:
        row.problem("quantity", f"{tonnes_text} t and {kilograms} kg are not the same quantity")
        return None
    if kilograms % 1000:
        row.problem("quantity", f"{tonnes_text} t ({kilograms} kg) is not a whole number of tonnes")
        return None
    return kilograms // 1000


FORMATS = (
    ExportFormat(
        "projects",
        frozenset({"id", "name", "country_code", "protocol_slug", "crediting_period_start", "crediting_period_end"}),
        projects,
    ),
    ExportFormat("issuances", frozenset({"id", "issued_at", "project_id", _TOTAL_TONNES, _TOTAL_KG}), issuances),
    ExportFormat(
        "retirements",
        frozenset(
            {
                "retirement_id",
                "retired_at",
                "project_id",
                "beneficiary.name",
                "sequestered_on",
                _TOTAL_TONNES,
                _TOTAL_KG,
            }
        ),
        retirements,
    ),
)
"""The files Isometric publishes, by the columns that recognise them."""
