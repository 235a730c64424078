"""Transfers and sales: the holder moves units, all or part of a block, to another account."""

from __future__ import annotations

from registry import inventories
from registry.blocks import covering, record_movement, require_movable, resolve
from registry.errors import RuleError
from registry.events import Sold, Transferred
from registry.position import Position
from registry.vocabulary import BlockStatus
from registry.working import WorkingState


def transfer(state: WorkingState, event: Transferred | Sold, at: Position) -> None:
    """Move ``event.serial`` from ``event.sender`` to ``event.to``.

    Raises :class:`~registry.errors.NotHolderError` if any unit is not held by the sender,
    and ``UnitsRetiredError`` / ``UnitsCancelledError`` if any was retired or cancelled.
    Checks everything before changing anything.
    """
    state.account(event.sender, "from")
    receiver = state.account(event.to, "to")
    if not receiver.role.may_hold:
        raise RuleError("to", f"account {receiver.id!r} is a {receiver.role} and cannot hold credits")
    serial = event.serial
    resolve(state, serial)
    found = covering(state, serial)
    require_movable(found, serial, event.sender, BlockStatus.HELD)
    state.replace_blocks(found, serial.first, serial.last, holder=event.to, status=BlockStatus.HELD, at=at.index)
    record_movement(state, at.index, 0, event.type, serial, sender=event.sender, receiver=event.to, came_from=found)
    if isinstance(event, Sold):
        inventories.check_leaving(state, event, at)
