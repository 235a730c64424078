"""Retirement: the holder takes units out of circulation for a beneficiary. Irreversible."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from registry.accounts import get_account
from registry.blocks import covering, record_movement, replace, require_movable, resolve
from registry.events import Retired
from registry.position import Position
from registry.schema import retirements
from registry.vocabulary import BlockStatus


def retire(conn: Connection, event: Retired, at: Position) -> None:
    """Retire ``event.serial`` on behalf of its beneficiary, for its claim period and jurisdiction."""
    get_account(conn, event.holder, "holder")
    if event.beneficiary.account is not None:
        get_account(conn, event.beneficiary.account, "beneficiary.account")
    serial = event.serial
    resolve(conn, serial)
    found = covering(conn, serial.first, serial.last)
    require_movable(found, serial, event.holder, BlockStatus.HELD)
    replace(conn, found, serial.first, serial.last, holder=event.holder, status=BlockStatus.RETIRED, at=at.index)
    record_movement(conn, at.index, 0, "retirement", serial, sender=event.holder, receiver=event.beneficiary.account)
    start, end = event.period.bounds
    conn.execute(
        retirements.insert().values(
            idx=at.index,
            holder=event.holder,
            batch=serial.batch,
            first=serial.first,
            last=serial.last,
            beneficiary_account=event.beneficiary.account,
            beneficiary_name=event.beneficiary.name,
            purpose=event.purpose,
            period_year=event.period.year,
            period_start=start,
            period_end=end,
            jurisdiction=event.jurisdiction,
        )
    )
