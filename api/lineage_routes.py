"""Double counting, for auditors: units' lineage, findings, the claim check, and imported exports.

``GET /v1/trace/{serial}`` answers JSON, or GraphML with ``Accept: application/graphml+xml``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import ConnectionDep, NodeDep
from registry import eligibility, findings, imports, lineage, queries
from registry.findings import Kind

router = APIRouter(tags=["double counting"])

GRAPHML = "application/graphml+xml"
MAX_INT = 2**63 - 1
Json = dict[str, Any]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE, description="Page size.")]
FindingCursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,18}\.[0-9]{1,9}$", description="Return items after this id (a page's `next`)."),
]


@router.get(
    "/v1/trace/{serial}",
    responses={200: {"content": {"application/json": {}, GRAPHML: {}}, "description": "The units' lineage."}},
)
def trace(serial: str, request: Request, conn: ConnectionDep, node: NodeDep) -> Any:
    """Every step that moved any unit of the serial range, from issuance on, and the findings that touch it."""
    steps, report = eligibility.trace_report(conn, node.lineage, serial)
    if GRAPHML in request.headers.get("accept", ""):
        return Response(lineage.to_graphml(steps), media_type=GRAPHML)
    return report


@router.get("/v1/findings")
def finding_list(
    conn: ConnectionDep,
    *,
    kind: Kind | None = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
    project: Annotated[str | None, Query(max_length=64)] = None,
    after: FindingCursor = None,
    limit: Limit = 100,
) -> Json:
    """Double-counting findings in log order, by kind, account or project."""
    found = findings.load(conn, kind=kind, account=account, project=project, after=_cursor(after), limit=limit)
    return {
        "items": [f.to_json() for f in found],
        "next": f"{found[-1].idx}.{found[-1].seq}" if len(found) == limit else None,
    }


@router.get("/v1/retirements/{index}/check")
def check_retirement(index: Annotated[int, Path(ge=0, le=MAX_INT)], conn: ConnectionDep, node: NodeDep) -> Json:
    """The check a claim on this retirement must pass: its lineage, and no blocking finding on its units.

    Answers 409 ``blocked-by-findings`` listing the findings that block it.
    """
    checked = eligibility.check_retirement(conn, node.lineage, index)
    return {
        "serial": str(checked.serial),
        "path": [step.to_json() for step in checked.path],
        "warnings": [f.to_json() for f in checked.findings],
    }


@router.get("/v1/imports")
def import_list(
    conn: ConnectionDep,
    after: Annotated[int | None, Query(ge=-1, le=MAX_INT, description="A page's `next`.")] = None,
    limit: Limit = 100,
) -> Json:
    """Imported exports of other registries: SHA-256, source, rows, records, problems, log indices."""
    return imports.import_list(conn, after=after, limit=limit)


@router.get("/v1/imports/{file_sha256}/problems")
def import_problems(
    file_sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    conn: ConnectionDep,
    after: FindingCursor = None,
    limit: Limit = 100,
) -> Json:
    """The rows of an imported file that could not be used as published, and why."""
    return imports.import_problems_of(conn, file_sha256, after=_cursor(after), limit=limit)


def _cursor(after: str | None) -> tuple[int, int] | None:
    if after is None:
        return None
    index, seq = after.split(".")
    return int(index), int(seq)
