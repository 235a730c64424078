"""``/trace/{serial}``: a unit's (or a range's) lineage as a picture, each step linked to its log entry.

The steps are the ownership graph's (:mod:`registry.lineage`), traced as ``GET /v1/trace/{serial}``
traces them (:func:`registry.eligibility.trace_report`): from the issuance through every split,
transfer and sale to the retirement or cancellation, with the cities' claims on the retirements
and the findings that touch the units. Each step links to its receipt and to the page that
verifies it in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Connection

from api import lineage_routes
from api.deps import ConnectionDep, NodeDep
from api.web import svg
from api.web.render import PageRoute, error_page, page, tonnes
from registry import eligibility, serials
from registry.errors import RangeTooWideError
from registry.lineage import Step
from registry.schema import claims

router = APIRouter(route_class=PageRoute)

MAX_DRAWN = 200
"""Steps drawn and listed at most: a whole batch of a large registry has a million (the JSON API lists all)."""

MAX_BLOCKS = 64
"""Blocks a traced range may lie in: the page reads only that much of the lineage, at any registry size."""


@dataclass(frozen=True)
class Move:
    """A row of the page: a step of the lineage, or a city's claim on a retirement among them."""

    key: tuple[int, int]
    """(log index, part); a claim's part is -1."""
    kind: str
    serial: serials.SerialRange
    sender: str | None
    receiver: str | None
    parents: tuple[tuple[int, int], ...]
    year: int | None = None
    """A claim's reporting year."""

    @property
    def index(self) -> int:
        return self.key[0]

    @property
    def receipt(self) -> str:
        return f"/v1/log/entries/{self.index}/receipt"

    @property
    def verify(self) -> str:
        return f"/verify?entry={self.index}"

    @property
    def who(self) -> str:
        """Who moved the units where, in words: ``biochar-fi → turku``, ``by turku``."""
        if self.kind == "claim":
            return f"{self.sender} for {self.year}"
        if self.sender and self.receiver and self.sender != self.receiver:
            return f"{self.sender} → {self.receiver}"
        if self.kind == "issuance" or not self.sender:
            return f"to {self.receiver}"
        return f"by {self.sender}"


@router.get("/trace/{serial}", response_class=HTMLResponse)
def trace(
    request: Request, conn: ConnectionDep, node: NodeDep, serial: Annotated[str, Path(max_length=200)]
) -> HTMLResponse:
    """The lineage of ``serial`` drawn as a flow, the same steps as a table, and the findings touching it.

    Answers a 400 page if ``serial`` is not a printed serial range, 404 if its units were never issued.
    """
    try:
        serials.parse(serial)
    except serials.SerialFormatError as exc:
        return error_page(request, 400, "Not a serial range", f"{exc}.")
    try:
        steps, report = eligibility.trace_report(conn, node.lineage, serial, max_blocks=MAX_BLOCKS)
    except RangeTooWideError as exc:
        wider = f"GET /v1/trace/{serial} (up to {lineage_routes.MAX_BLOCKS:,} blocks)"
        return error_page(request, 422, "Range too wide to trace here", f"{exc}, or ask {wider}.")
    moves = [_move(step) for step in steps[:MAX_DRAWN]]
    moves = sorted([*moves, *_claims(conn, moves)], key=lambda m: m.key)
    units = serials.parse(report["serial"])
    return page(
        request,
        "trace.html",
        f"Trace of {units}",
        serial=str(units),
        units=units,
        moves=moves,
        steps=len(steps),
        drawn=min(len(steps), MAX_DRAWN),
        picture=_picture(moves, units),
        findings=report["findings"],
    )


def _move(step: Step) -> Move:
    return Move((step.index, step.part), step.kind, step.serial, step.sender, step.receiver, step.parents)


def _claims(conn: Connection, moves: list[Move]) -> list[Move]:
    """The cities' claims on the retirements among ``moves``, each after the retirement whose units it claims."""
    retired = {m.index: m for m in moves if m.kind == "retirement"}
    if not retired:
        return []
    found = conn.execute(sa.select(claims).where(claims.c.retirement.in_(list(retired))).order_by(claims.c.idx))
    return [
        Move(
            (row.idx, -1),
            "claim",
            retired[row.retirement].serial.sub(row.first, row.last),
            row.city,
            None,
            (retired[row.retirement].key,),
            year=row.year,
        )
        for row in found
    ]


def _picture(moves: list[Move], units: serials.SerialRange) -> Any:
    boxes = [
        svg.Box(
            key=m.key,
            lines=(
                f"{m.kind} · entry {m.index}",
                m.who,
                f"{tonnes(m.serial.quantity)} t · {m.serial.first}–{m.serial.last}",
            ),
            label=f"Entry {m.index}: {m.kind} of {m.serial} ({m.serial.quantity} t), {m.who}",
            href=m.verify,
            kind=m.kind,
        )
        for m in moves
    ]
    edges = [(parent, m.key) for m in moves for parent in m.parents]
    kinds = ", ".join(dict.fromkeys(m.kind for m in moves))
    return svg.flow(
        boxes,
        edges,
        title=f"The lineage of {units}",
        desc=f"{len(moves)} steps ({kinds}), from the issuance down; an arrow runs from the step the units came from.",
    )
