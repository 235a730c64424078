"""Claims: a city counts retired units against its net-emissions balance for a reporting year.

A claim is the step where double claiming would happen (DESIGN.md §4), so each way of claiming
a tonne twice, or claiming what is not a removal, is refused with its own error before
anything is written:

- the city must be the retirement's beneficiary (``NotBeneficiaryError``);
- the units must be removals — not avoidance, reduction or CRCF soil emission reduction
  (JRC guidance: only removals compensate; ``NotRemovalError``);
- no unit may have been claimed before, by anyone (``AlreadyClaimedError``);
- the retirement must have been made for a period that includes the reporting year
  (``WrongPeriodError``);
- temporary units must not expire before the reporting year ends (CRCF Art. 2;
  ``UnitsExpiredError``);
- the city must not have sold these units (``SoldUnitsError``);
- no blocking double-counting finding may touch them (``BlockedByFindingsError``).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from registry import eligibility
from registry.errors import (
    AlreadyClaimedError,
    BlockedByFindingsError,
    NotBeneficiaryError,
    NotRemovalError,
    RuleError,
    SoldUnitsError,
    UnitsExpiredError,
    UnknownError,
    WrongPeriodError,
)
from registry.events import Claimed
from registry.findings import Severity
from registry.position import Position
from registry.schema import batches, claims, movements, retirements
from registry.vocabulary import Role
from registry.working import WorkingState


def claim(state: WorkingState, event: Claimed, at: Position) -> None:
    """Record the city's claim on ``event.serial``, or raise the error of the first rule it breaks."""
    conn = state.conn
    city = state.account(event.city, "city")
    if city.role != Role.CITY:
        raise RuleError("city", f"account {city.id!r} is a {city.role}; only cities claim retirements")
    retired = conn.execute(sa.select(retirements).where(retirements.c.idx == event.retirement)).one_or_none()
    if retired is None:
        raise UnknownError("retirement", "retirement at log index", event.retirement)
    serial = event.serial
    if serial.batch != retired.batch or serial.first < retired.first or serial.last > retired.last:
        raise RuleError("serial", f"{serial} is not part of the units retired at log index {event.retirement}")
    batch = conn.execute(sa.select(batches).where(batches.c.number == serial.batch)).one()
    if (batch.project, batch.vintage) != (serial.project, serial.vintage):
        raise RuleError("serial", f"batch {batch.number} is of project {batch.project!r}, vintage {batch.vintage}")
    if retired.beneficiary_account != event.city:
        beneficiary = retired.beneficiary_account or retired.beneficiary_name
        raise NotBeneficiaryError("city", f"the retirement at log index {event.retirement} is for {beneficiary!r}")
    unit_type = state.project(batch.project, "serial").unit_type
    if not unit_type.is_removal:
        raise NotRemovalError("serial", f"{serial} are {unit_type} units, not removals: they cannot compensate")
    earlier = conn.execute(
        sa.select(claims.c.idx, claims.c.city, claims.c.first, claims.c.last)
        .where(claims.c.batch == serial.batch, claims.c.first <= serial.last, claims.c.last >= serial.first)
        .order_by(claims.c.idx)
        .limit(1)
    ).one_or_none()
    if earlier is not None:
        both = serial.sub(max(serial.first, earlier.first), min(serial.last, earlier.last))
        raise AlreadyClaimedError(str(both), earlier.city, earlier.idx)
    if not retired.period_start.year <= event.year <= retired.period_end.year:
        raise WrongPeriodError(
            "year",
            f"the units were retired for {retired.period_start}..{retired.period_end}, not for {event.year}",
        )
    if batch.expires is not None and batch.expires < dt.date(event.year, 12, 31):
        raise UnitsExpiredError("serial", f"{serial} expire on {batch.expires}, before the end of {event.year}")
    sold = conn.execute(
        sa.select(sa.func.min(movements.c.idx)).where(
            movements.c.kind == "sale",
            movements.c.sender == event.city,
            movements.c.batch == serial.batch,
            movements.c.first <= serial.last,
            movements.c.last >= serial.first,
        )
    ).scalar_one()
    if sold is not None:
        raise SoldUnitsError("serial", f"{event.city!r} sold units of {serial} at log index {sold}")
    blocking = [f.to_json() for f in eligibility.touching(conn, serial) if f.severity == Severity.BLOCKING]
    if blocking:
        raise BlockedByFindingsError(str(serial), blocking)
    conn.execute(
        claims.insert().values(
            idx=at.index,
            city=event.city,
            retirement=event.retirement,
            batch=serial.batch,
            first=serial.first,
            last=serial.last,
            year=event.year,
        )
    )
