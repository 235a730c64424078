"""A net-emissions statement as CSV: one row per figure, for spreadsheets and reporting templates.

Columns ``section,item,scope,tonnes,percent,code,message,evidence``; ``evidence`` holds the log
indices the figure came from, separated by spaces. Lines end in CRLF (RFC 4180 §2).

Sections, in order:

- ``total``: the seven totals (gross emissions, sold credits, in-boundary removals, retired
  credits, positive, negative, net);
- ``gross_emissions_by_sector`` (one row per GPC sector) and ``gross_emissions_by_scope``
  (the ``scope`` column);
- ``in_boundary_removals_by_method``;
- ``retired_credits_by_project`` and ``sold_credits_by_project``;
- ``share``: compensation of base-year emissions, and the durable share (``percent``);
- ``warning`` and ``exclusion`` (``code``, ``message``; an exclusion's ``tonnes``);
- ``expiring`` and ``reversal``, by project.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

COLUMNS = ("section", "item", "scope", "tonnes", "percent", "code", "message", "evidence")
TOTALS = (
    "gross_emissions",
    "sold_credits",
    "in_boundary_removals",
    "retired_credits",
    "positive",
    "negative",
    "net",
)

Row = dict[str, Any]


def to_csv(statement: dict[str, Any]) -> str:
    """Return ``statement`` (from :func:`registry.balance.statement`) as RFC 4180 CSV with a header row."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows(statement):
        writer.writerow({column: _cell(row.get(column)) for column in COLUMNS})
    return out.getvalue()


def rows(statement: dict[str, Any]) -> Iterator[Row]:
    """The figures of ``statement`` as rows keyed by :data:`COLUMNS` (absent columns are empty)."""
    terms = statement["terms"]
    gross, sold = terms["gross_emissions"], terms["sold_credits"]
    removals, retired = terms["in_boundary_removals"], terms["retired_credits"]
    evidence = {name: terms[name]["evidence"] for name in terms}
    evidence["positive"] = _union(gross["evidence"], sold["evidence"])
    evidence["negative"] = _union(removals["evidence"], retired["evidence"])
    evidence["net"] = _union(evidence["positive"], evidence["negative"])
    for name in TOTALS:
        yield {"section": "total", "item": name, "tonnes": statement[name], "evidence": evidence[name]}
    for sector, tonnes in gross["by_sector"].items():
        yield {"section": "gross_emissions_by_sector", "item": sector, "tonnes": tonnes, "evidence": gross["evidence"]}
    for scope, tonnes in gross["by_scope"].items():
        yield {"section": "gross_emissions_by_scope", "scope": scope, "tonnes": tonnes, "evidence": gross["evidence"]}
    for method, tonnes in removals["by_method"].items():
        yield {
            "section": "in_boundary_removals_by_method",
            "item": method,
            "tonnes": tonnes,
            "evidence": removals["evidence"],
        }
    for section, term in (("retired_credits_by_project", retired), ("sold_credits_by_project", sold)):
        for project in term["projects"]:
            yield {
                "section": section,
                "item": project["project"],
                "tonnes": project["tonnes"],
                "evidence": project["evidence"],
            }
    yield from _shares(statement["shares"])
    for warning in statement["warnings"]:
        yield {
            "section": "warning",
            "code": warning["code"],
            "message": warning["message"],
            "evidence": warning["evidence"],
        }
    for excluded in statement["exclusions"]:
        yield {
            "section": "exclusion",
            "code": excluded["code"],
            "tonnes": excluded["tonnes"],
            "message": excluded["message"],
            "evidence": excluded["evidence"],
        }
    for section, items in (("expiring", statement["expiring"]), ("reversal", statement["reversals"])):
        for item in items:
            yield {
                "section": section,
                "item": item["project"],
                "tonnes": item["tonnes"],
                "message": item["message"],
                "evidence": item["evidence"],
            }


def _shares(shares: dict[str, Any]) -> Iterator[Row]:
    compensation = shares["compensation_of_base_year"]
    if compensation["base_year"] is None:
        measured = "no base-year inventory to measure against"
    else:
        measured = f"of {compensation['of']} t emitted in the base year {compensation['base_year']}"
    yield {
        "section": "share",
        "item": "compensation_of_base_year",
        "tonnes": compensation["tonnes"],
        "percent": compensation["percent"],
        "message": measured,
        "evidence": compensation["evidence"],
    }
    durable = shares["durable"]
    yield {
        "section": "share",
        "item": "durable",
        "tonnes": durable["tonnes"],
        "percent": durable["percent"],
        "message": f"of {durable['of']} t of compensation",
    }


def _union(*lists: Iterable[int]) -> list[int]:
    return sorted({i for indices in lists for i in indices})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(i) for i in value)
    return str(value)
