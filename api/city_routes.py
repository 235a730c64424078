"""A city's net-emissions statement: as JSON, as CSV, and signed by the log for offline verification.

``GET /v1/cities/{city}/statement?year=Y`` answers JSON, or CSV with ``Accept: text/csv`` or
``format=csv`` (a plain link, such as the statement page's download link, cannot set a header);
``GET /v1/cities/{city}/statement/signed?year=Y`` answers the bundle of
:mod:`registry.attestation`, which ``registry verify-statement`` checks with the log's key alone.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api import schemas
from api.deps import NodeDep
from api.problems import problem, responses
from ledger.checkpoint import SignedCheckpoint
from registry import attestation, balance
from registry.node import Node
from registry.statement_csv import to_csv

router = APIRouter(tags=["cities"])

CSV = "text/csv"
Json = dict[str, Any]
Year = Annotated[int, Query(ge=1900, le=2200, description="The reporting year.", examples=[2029])]
City = Annotated[str, Path(description="A city's account id.", examples=["turku"])]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="`csv` or `json`, over the `Accept` header (for plain links)."),
]
PUBLISH_WAIT = 5.0
"""Seconds to wait for the checkpoint of a batch that committed but is not yet published."""


def _statement(node: Node, city: str, year: int) -> Json:
    # One transaction: every figure, and the log size they reflect, come from one committed state.
    with attestation.consistent_read(node.engine) as conn:
        return balance.statement(conn, city, year)


@router.get(
    "/v1/cities/{city}/statement",
    summary="A city's net-emissions statement",
    response_model=schemas.Statement,
    response_model_exclude_unset=True,
    responses={
        200: {
            "description": "The statement, as JSON or as CSV.",
            "content": {
                CSV: {
                    "schema": {"type": "string"},
                    "example": "section,item,scope,tonnes,percent,code,message,evidence\r\ntotal,net,,128300,,,,\r\n",
                }
            },
        },
        **responses(404, 422),
    },
)
def statement(city: City, year: Year, request: Request, node: NodeDep, as_format: Format = None) -> Any:
    """The city's net-emissions statement for the year: each term with the log entries it came from.

    CSV when ``format=csv``, or without ``format`` when ``Accept`` names ``text/csv``. Answers 404
    if ``city`` is not a city account or has no inventory for the year.
    """
    result = _statement(node, city, year)
    if as_format == "csv" or (as_format is None and CSV in request.headers.get("accept", "")):
        return Response(to_csv(result), media_type="text/csv; charset=utf-8")
    return result


@router.get(
    "/v1/cities/{city}/statement/signed",
    summary="A city's statement, signed by the log",
    response_model=schemas.SignedStatement,
    response_model_exclude_unset=True,
    responses=responses(404, 422, 503),
)
def signed_statement(city: City, year: Year, node: NodeDep) -> Any:
    """The statement signed by the log, with the checkpoint, every entry it cites and their inclusion proofs.

    Verify it offline with ``registry verify-statement FILE --vkey VKEY``. Answers 503 if the
    entries the statement reflects are not yet covered by a published checkpoint.
    """
    result = _statement(node, city, year)
    published = _published(node, result["log_size"])
    if published.size < result["log_size"]:
        return problem(
            503,
            "checkpoint-pending",
            "Checkpoint pending",
            f"the statement reflects {result['log_size']} log entries; the log has published {published.size}",
        )
    return attestation.sign_statement(result, log_key=node.sequencer.log_key, published=published, reader=node.reader)


def _published(node: Node, size: int) -> SignedCheckpoint:
    """The latest published checkpoint, waiting briefly for one that covers ``size``.

    A batch's state and entries commit together and its checkpoint is signed just after, so a
    read between the two sees entries that no checkpoint covers yet.
    """
    deadline = time.monotonic() + PUBLISH_WAIT
    latest = node.latest_checkpoint()
    while latest.size < size and time.monotonic() < deadline:
        time.sleep(0.05)
        latest = node.latest_checkpoint()
    return latest
