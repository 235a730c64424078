"""Transfers and sales: the holder moves units, all or part of a block, to another account."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from registry.accounts import get_account
from registry.blocks import covering, record_movement, replace, require_movable, resolve
from registry.errors import RuleError
from registry.events import Sold, Transferred
from registry.position import Position
from registry.vocabulary import BlockStatus


def transfer(conn: Connection, event: Transferred | Sold, at: Position) -> None:
    """Move ``event.serial`` from ``event.sender`` to ``event.to``.

    Raises :class:`~registry.errors.NotHolderError` if any unit is not held by the sender,
    and ``UnitsRetiredError`` / ``UnitsCancelledError`` if any was retired or cancelled.
    """
    get_account(conn, event.sender, "from")
    receiver = get_account(conn, event.to, "to")
    if not receiver.role.may_hold:
        raise RuleError("to", f"account {receiver.id!r} is a {receiver.role} and cannot hold credits")
    serial = event.serial
    resolve(conn, serial)
    found = covering(conn, serial.first, serial.last)
    require_movable(found, serial, event.sender, BlockStatus.HELD)
    replace(conn, found, serial.first, serial.last, holder=event.to, status=BlockStatus.HELD, at=at.index)
    record_movement(conn, at.index, 0, event.type, serial, sender=event.sender, receiver=event.to)
