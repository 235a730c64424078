"""Serial blocks: the runs of units in one state that tile every batch exactly.

Moving units splits the blocks at the ends of the moved range and replaces the covered part
with one block in the new state, so the invariants of DESIGN.md §4 hold by construction:
blocks never overlap, they cover their batch exactly, and a retired or cancelled block is
never replaced (:func:`require_movable` refuses first).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry.errors import NotHolderError, RuleError, UnitsCancelledError, UnitsRetiredError, UnknownError
from registry.schema import batches, blocks, movements
from registry.serials import SerialRange
from registry.vocabulary import BlockStatus


@dataclass(frozen=True)
class Block:
    first: int
    last: int
    batch: int
    holder: str | None
    status: BlockStatus
    since: int


@dataclass(frozen=True)
class BatchRef:
    """What a serial range's batch must agree with."""

    number: int
    project: str
    vintage: int
    first: int
    last: int
    expires: object


def resolve(conn: Connection, serial: SerialRange, field: str = "serial") -> BatchRef:
    """Check that ``serial`` lies inside its batch, as printed; return the batch.

    Raises :class:`UnknownError` for a batch that does not exist and :class:`RuleError` when
    the project, vintage or range disagree with it.
    """
    row = conn.execute(
        sa.select(
            batches.c.number, batches.c.project, batches.c.vintage, batches.c.first, batches.c.last, batches.c.expires
        ).where(batches.c.number == serial.batch)
    ).one_or_none()
    if row is None:
        raise UnknownError(field, "batch", serial.batch)
    if row.project != serial.project or row.vintage != serial.vintage:
        raise RuleError(field, f"batch {row.number} is of project {row.project!r}, vintage {row.vintage}")
    if serial.first < row.first or serial.last > row.last:
        raise RuleError(
            field, f"units {serial.first}-{serial.last} lie outside batch {row.number} ({row.first}-{row.last})"
        )
    return BatchRef(row.number, row.project, row.vintage, row.first, row.last, row.expires)


def covering(conn: Connection, first: int, last: int) -> list[Block]:
    """The blocks that hold any of units ``first``..``last``, in serial order."""
    start = sa.select(sa.func.max(blocks.c.first)).where(blocks.c.first <= first).scalar_subquery()
    rows = conn.execute(
        sa.select(blocks)
        .where(blocks.c.first >= sa.func.coalesce(start, first), blocks.c.first <= last)
        .order_by(blocks.c.first)
    )
    return [Block(r.first, r.last, r.batch, r.holder, BlockStatus(r.status), r.since) for r in rows]


def require_movable(found: list[Block], serial: SerialRange, holder: str | None, status: BlockStatus) -> None:
    """Raise unless every unit of ``serial`` is in ``status`` and held by ``holder``.

    The error names the first offending sub-range and the log index since which it stands.
    """
    for block in found:
        part = str(serial.sub(max(block.first, serial.first), min(block.last, serial.last)))
        if block.status == BlockStatus.RETIRED:
            raise UnitsRetiredError(part, block.since)
        if block.status == BlockStatus.CANCELLED:
            raise UnitsCancelledError(part, block.since)
        if block.status != status or block.holder != holder:
            raise NotHolderError(part, holder or "the buffer pool", block.holder, block.since)


def replace(
    conn: Connection, found: list[Block], first: int, last: int, *, holder: str | None, status: BlockStatus, at: int
) -> None:
    """Put units ``first``..``last`` (covered exactly by ``found``) in a new state, splitting at the ends."""
    head, tail = found[0], found[-1]
    rows = []
    if head.first < first:
        rows.append(_row(head, head.first, first - 1))
    rows.append({"first": first, "last": last, "batch": head.batch, "holder": holder, "status": status, "since": at})
    if tail.last > last:
        rows.append(_row(tail, last + 1, tail.last))
    conn.execute(blocks.delete().where(blocks.c.first.in_([b.first for b in found])))
    conn.execute(blocks.insert(), rows)


def record_movement(
    conn: Connection,
    at: int,
    part: int,
    kind: str,
    serial: SerialRange,
    *,
    sender: str | None,
    receiver: str | None,
) -> None:
    """Record one step of the units' lineage: ``kind`` moved ``serial`` from ``sender`` to ``receiver``."""
    conn.execute(
        movements.insert().values(
            idx=at,
            part=part,
            kind=kind,
            batch=serial.batch,
            first=serial.first,
            last=serial.last,
            sender=sender,
            receiver=receiver,
        )
    )


def _row(block: Block, first: int, last: int) -> dict[str, object]:
    return {
        "first": first,
        "last": last,
        "batch": block.batch,
        "holder": block.holder,
        "status": block.status.value,
        "since": block.since,
    }
