"""What the explorer pages read beyond :mod:`registry.queries`: totals, project search, and the names
of the records a page of blocks or findings points to.

Nothing here reads the serial blocks of the whole registry: :func:`totals` sums the batches,
retirements, claims and cancellations tables (one row per event, never one per block), so it
costs the same on a registry of a million blocks as on one of ten. Lists are cursor-paginated
like those of :mod:`registry.queries` (``next`` is None on the last page).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry.findings import Units
from registry.queries import MAX_PAGE, Row, _fetch, _page, _project
from registry.schema import batch_supply, batches, cancellations, claims, projects, retirements
from registry.serials import SerialRange
from registry.vocabulary import BlockStatus


@dataclass(frozen=True)
class Totals:
    """The registry's supply, in units (tonnes): issued = held + buffer + retired + cancelled."""

    issued: int
    held: int
    buffer: int
    retired: int
    cancelled: int
    claimed: int
    """Retired units that cities counted against their balances (a part of ``retired``)."""
    projects: int
    batches: int


def totals(conn: Connection) -> Totals:
    """The registry's totals: the supply counters (one row per batch, kept as blocks change) and the claims.

    No block is read, and the figures agree with every batch's page by construction:
    issued = held + buffer + retired + cancelled, summed over the batches.
    """
    supply = batch_supply.c
    row = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(supply.held), 0),
            sa.func.coalesce(sa.func.sum(supply.buffer), 0),
            sa.func.coalesce(sa.func.sum(supply.retired), 0),
            sa.func.coalesce(sa.func.sum(supply.cancelled), 0),
            sa.func.count(),
        )
    ).one()
    held, buffer, retired, cancelled, batch_count = (int(value) for value in row)
    claimed = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(claims.c.last - claims.c.first + 1), 0))).scalar_one()
    project_count = conn.execute(sa.select(sa.func.count()).select_from(projects)).scalar_one()
    return Totals(
        issued=held + buffer + retired + cancelled,
        held=held,
        buffer=buffer,
        retired=retired,
        cancelled=cancelled,
        claimed=int(claimed),
        projects=int(project_count),
        batches=batch_count,
    )


def project_search(
    conn: Connection,
    *,
    text: str | None = None,
    method: str | None = None,
    country: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> Row:
    """Projects in id order whose id or name contains ``text`` (any case), of ``method`` and in ``country``.

    A page reads at most ``limit`` + 1 matching rows, after id ``after``.
    """
    query = sa.select(projects).order_by(projects.c.id).limit(_fetch(limit))
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                sa.func.lower(projects.c.id).like(pattern, escape="\\"),
                sa.func.lower(projects.c.name).like(pattern, escape="\\"),
            )
        )
    for column, value in ((projects.c.method, method), (projects.c.country, country)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(projects.c.id > after)
    return _page([_project(r) for r in conn.execute(query)], limit, "id")


def project_batches(conn: Connection, project_id: str) -> list[Row]:
    """The first :data:`registry.queries.MAX_PAGE` batches of a project in issuance order, with their serials."""
    rows = conn.execute(
        sa.select(batches).where(batches.c.project == project_id).order_by(batches.c.number).limit(MAX_PAGE)
    )
    return [
        {
            "number": r.number,
            "serial": str(SerialRange(r.project, r.vintage, r.number, r.first, r.last)),
            "vintage": r.vintage,
            "monitoring_period": {"start": r.monitoring_start.isoformat(), "end": r.monitoring_end.isoformat()},
            "quantity": r.quantity,
            "buffer": r.buffer,
            "expires": r.expires.isoformat() if r.expires else None,
            "issued_at": r.issued_at,
        }
        for r in rows
    ]


def block_outcomes(conn: Connection, page: Iterable[Row]) -> dict[int, str]:
    """For the retired and cancelled blocks of a page of :func:`registry.queries.batch_blocks`, keyed by
    their ``since``: the retirement's beneficiary (an account id or a name), or the cancellation's reason.

    A retired or cancelled block never changes again, so its ``since`` is the event that retired
    or cancelled it. Two point queries on primary keys, whatever the page's size.
    """
    items = list(page)
    retired = {b["since"] for b in items if b["status"] == BlockStatus.RETIRED}
    cancelled = {b["since"] for b in items if b["status"] == BlockStatus.CANCELLED}
    outcomes: dict[int, str] = {}
    if retired:
        for r in conn.execute(
            sa.select(retirements.c.idx, retirements.c.beneficiary_account, retirements.c.beneficiary_name).where(
                retirements.c.idx.in_(retired)
            )
        ):
            outcomes[r.idx] = r.beneficiary_account or r.beneficiary_name or ""
    if cancelled:
        for c in conn.execute(
            sa.select(cancellations.c.idx, cancellations.c.reason).where(cancellations.c.idx.in_(cancelled))
        ):
            outcomes[c.idx] = c.reason
    return outcomes


def printed_units(conn: Connection, units: Collection[Units]) -> dict[Units, SerialRange]:
    """The printed serial range of each of ``units``, from one query of their batches."""
    numbers = {u.batch for u in units}
    if not numbers:
        return {}
    named = {
        r.number: (r.project, r.vintage)
        for r in conn.execute(
            sa.select(batches.c.number, batches.c.project, batches.c.vintage).where(batches.c.number.in_(numbers))
        )
    }
    return {u: SerialRange(*named[u.batch], u.batch, u.first, u.last) for u in units if u.batch in named}
