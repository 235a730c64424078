"""Cancellation by the operator: reversals, invalidations, corrections and exports."""

from __future__ import annotations

import sqlalchemy as sa

from registry.blocks import covering, record_movement, resolve
from registry.errors import RuleError, UnitsCancelledError, UnitsRetiredError
from registry.events import Cancelled
from registry.position import Position
from registry.schema import batches, cancellations
from registry.serials import SerialRange
from registry.vocabulary import BlockStatus, CancellationReason
from registry.working import WorkingState


def cancel(state: WorkingState, event: Cancelled, at: Position) -> None:
    """Cancel units for ``event.reason``.

    A reversal draws ``quantity`` units from the project's buffer pool first (oldest batch
    first) and only the remainder from the first held units of ``serial``; it is refused if
    the two together cannot cover the loss. Other reasons cancel exactly ``serial``. Retired
    units are never cancelled: a retirement is irreversible. The cancellation records the
    serials it took from outside the buffer pool.
    """
    cancelled: SerialRange | None
    if event.reason == CancellationReason.REVERSAL:
        assert event.project is not None and event.quantity is not None  # checked by the event model
        state.project(event.project, "project")
        if event.serial is not None:
            resolve(state, event.serial)
        from_buffer, remainder, parts = _draw_buffer(state, event.project, event.quantity, at)
        cancelled = None
        if remainder:
            if event.serial is None:
                raise RuleError(
                    "quantity",
                    f"the buffer pool of {event.project!r} holds {from_buffer} units; "
                    f"name the serials from which to cancel the other {remainder}",
                )
            if event.serial.quantity < remainder:
                raise RuleError(
                    "serial",
                    f"{event.serial} holds {event.serial.quantity} units; the buffer leaves {remainder} to cancel",
                )
            cancelled = event.serial.sub(event.serial.first, event.serial.first + remainder - 1)
            _cancel_units(state, cancelled, at, parts)
        project, quantity = event.project, event.quantity
    else:
        assert event.serial is not None  # checked by the event model
        resolve(state, event.serial)
        from_buffer = _cancel_units(state, event.serial, at, 0)
        cancelled, project, quantity = event.serial, event.serial.project, event.serial.quantity
    destination = event.destination
    state.conn.execute(
        cancellations.insert().values(
            idx=at.index,
            reason=event.reason.value,
            project=project,
            quantity=quantity,
            from_buffer=from_buffer,
            affected=str(cancelled) if cancelled else None,
            destination_registry=destination.registry if destination else None,
            destination_account=destination.account if destination else None,
            note=event.note,
        )
    )


def _draw_buffer(state: WorkingState, project: str, quantity: int, at: Position) -> tuple[int, int, int]:
    """Cancel up to ``quantity`` buffer units of ``project``; return (cancelled, still to cancel, parts recorded)."""
    numbers = state.conn.execute(
        sa.select(batches.c.number, batches.c.vintage).where(batches.c.project == project).order_by(batches.c.number)
    ).all()
    remaining, parts = quantity, 0
    for number, vintage in numbers:
        for block in state.blocks(number).all():
            if not remaining:
                return quantity, 0, parts
            if block.status != BlockStatus.BUFFER:
                continue
            take = min(remaining, block.last - block.first + 1)
            serial = SerialRange(project, vintage, number, block.first, block.first + take - 1)
            state.replace_blocks(
                [block], serial.first, serial.last, holder=None, status=BlockStatus.CANCELLED, at=at.index
            )
            record_movement(
                state, at.index, parts, "cancellation", serial, sender=None, receiver=None, came_from=[block]
            )
            remaining -= take
            parts += 1
    return quantity - remaining, remaining, parts


def _cancel_units(state: WorkingState, serial: SerialRange, at: Position, part: int) -> int:
    """Cancel every unit of ``serial`` (held or in the buffer pool); return how many were buffer units."""
    found = covering(state, serial)
    for block in found:
        piece = serial.sub(max(block.first, serial.first), min(block.last, serial.last))
        if block.status == BlockStatus.RETIRED:
            raise UnitsRetiredError(str(piece), block.since)
        if block.status == BlockStatus.CANCELLED:
            raise UnitsCancelledError(str(piece), block.since)
    from_buffer = 0
    for offset, block in enumerate(found):
        piece = serial.sub(max(block.first, serial.first), min(block.last, serial.last))
        if block.status == BlockStatus.BUFFER:
            from_buffer += piece.quantity
        state.replace_blocks(
            [block], piece.first, piece.last, holder=block.holder, status=BlockStatus.CANCELLED, at=at.index
        )
        record_movement(
            state, at.index, part + offset, "cancellation", piece, sender=block.holder, receiver=None, came_from=[block]
        )
    return from_buffer
