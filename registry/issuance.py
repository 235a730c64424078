"""Issuance: verified units enter the registry as a new batch with a contiguous serial range."""

from __future__ import annotations

import sqlalchemy as sa

from registry import findings
from registry.blocks import record_movement
from registry.errors import RuleError
from registry.events import Issued
from registry.position import Position
from registry.schema import batch_supply, batches, blocks
from registry.serials import MAX_SERIAL, SerialRange
from registry.vocabulary import BlockStatus, Role, UnitType
from registry.working import WorkingState, add_holdings


def issue(state: WorkingState, event: Issued, at: Position) -> SerialRange:
    """Create the batch; its first ``buffer`` units go to the project's buffer pool, the rest to the supplier.

    Returns the batch's serial range.
    """
    conn = state.conn
    project = state.project(event.project, "project")
    if project.supplier != event.supplier:
        raise RuleError("supplier", f"project {project.id!r} belongs to {project.supplier!r}, not {event.supplier!r}")
    verifier = state.account(event.verifier, "verifier")
    if verifier.role != Role.VERIFIER:
        raise RuleError("verifier", f"account {verifier.id!r} is a {verifier.role}, not an accredited verifier")
    _check_expiry(project.unit_type, event)
    number, first = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.max(batches.c.number), 0) + 1, sa.func.coalesce(sa.func.max(batches.c.last), 0) + 1
        )
    ).one()
    last = first + event.quantity - 1
    if last > MAX_SERIAL:
        raise RuleError("quantity", f"the registry's serials would pass 2^53-1 (next serial is {first})")
    serial = SerialRange(event.project, event.vintage, number, first, last)
    conn.execute(
        batches.insert().values(
            number=number,
            project=event.project,
            vintage=event.vintage,
            monitoring_start=event.monitoring_period.start,
            monitoring_end=event.monitoring_period.end,
            quantity=event.quantity,
            buffer=event.buffer,
            first=first,
            last=last,
            durability_years=event.durability_years,
            expires=event.expires,
            report_sha256=event.report_sha256,
            corresponding_adjustment=event.corresponding_adjustment,
            supplier=event.supplier,
            verifier=event.verifier,
            issued_at=at.index,
        )
    )
    rows = []
    if event.buffer:
        rows.append(
            _block(first, first + event.buffer - 1, number, holder=None, status=BlockStatus.BUFFER, since=at.index)
        )
        record_movement(
            state, at.index, 0, "buffer", serial.sub(first, first + event.buffer - 1), sender=None, receiver=None
        )
    held = serial.sub(first + event.buffer, last)
    rows.append(_block(held.first, held.last, number, holder=event.supplier, status=BlockStatus.HELD, since=at.index))
    record_movement(state, at.index, 1, "issuance", held, sender=None, receiver=event.supplier)
    conn.execute(blocks.insert(), rows)
    conn.execute(
        batch_supply.insert().values(batch=number, held=held.quantity, buffer=event.buffer, retired=0, cancelled=0)
    )
    add_holdings(conn, {(event.supplier, BlockStatus.HELD.value): held.quantity})
    state.cache.blocks.pop(number, None)  # an index of a batch rolled back earlier would be stale
    findings.check_issuance(conn, number, at.index)
    return serial


def _check_expiry(unit_type: UnitType, event: Issued) -> None:
    # CRCF Art. 2: carbon farming sequestration and storage in products are temporary units
    # that expire at the end of their monitoring period; permanent removals never expire.
    if unit_type.is_temporary and event.expires is None:
        raise RuleError("expires", f"{unit_type} units are temporary and must carry their expiry date")
    if unit_type == UnitType.PERMANENT_REMOVAL and event.expires is not None:
        raise RuleError("expires", "permanent removal units do not expire")


def _block(
    first: int, last: int, batch: int, *, holder: str | None, status: BlockStatus, since: int
) -> dict[str, object]:
    return {"first": first, "last": last, "batch": batch, "holder": holder, "status": status.value, "since": since}
