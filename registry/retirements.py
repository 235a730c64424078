"""Retirement: the holder takes units out of circulation for a beneficiary. Irreversible."""

from __future__ import annotations

from registry import inventories
from registry.blocks import covering, record_movement, require_movable, resolve
from registry.events import Retired
from registry.position import Position
from registry.vocabulary import BlockStatus
from registry.working import WorkingState


def retire(state: WorkingState, event: Retired, at: Position) -> None:
    """Retire ``event.serial`` on behalf of its beneficiary, for its claim period and jurisdiction."""
    state.account(event.holder, "holder")
    if event.beneficiary.account is not None:
        state.account(event.beneficiary.account, "beneficiary.account")
    serial = event.serial
    resolve(state, serial)
    found = covering(state, serial)
    require_movable(found, serial, event.holder, BlockStatus.HELD)
    state.replace_blocks(found, serial.first, serial.last, holder=event.holder, status=BlockStatus.RETIRED, at=at.index)
    record_movement(
        state,
        at.index,
        0,
        "retirement",
        serial,
        sender=event.holder,
        receiver=event.beneficiary.account,
        came_from=found,
    )
    start, end = event.period.bounds
    state.add(
        "reg_retirements",
        {
            "idx": at.index,
            "holder": event.holder,
            "batch": serial.batch,
            "first": serial.first,
            "last": serial.last,
            "beneficiary_account": event.beneficiary.account,
            "beneficiary_name": event.beneficiary.name,
            "purpose": event.purpose,
            "period_year": event.period.year,
            "period_start": start,
            "period_end": end,
            "jurisdiction": event.jurisdiction,
        },
    )
    inventories.check_leaving(state, event, at)
