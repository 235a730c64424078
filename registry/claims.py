"""Claims: a city counts retired units against its net-emissions balance for a reporting year.

A claim is the step where double claiming would happen (DESIGN.md §4), so each way of claiming
a tonne twice, or claiming what is not a removal, is refused with its own error before
anything is written:

- the city must be the retirement's beneficiary (``NotBeneficiaryError``);
- the units must be removals — not avoidance, reduction or CRCF soil emission reduction
  (JRC guidance: only removals compensate; ``NotRemovalError``);
- no unit may have been claimed before, by anyone (``AlreadyClaimedError``);
- the retirement must have been made for a period that overlaps the reporting period
  (``WrongPeriodError``);
- the retirement must have been logged within the registry's policy window after the
  reporting period ended, when the operator set one (registry.policy; ``LateRetirementError``);
- temporary units must not expire before the reporting period ends (CRCF Art. 2;
  ``UnitsExpiredError``);
- the city must not have sold these units at any step of their lineage (``SoldUnitsError``);
- the units must not be credits for a removal the city counts in its own inventory
  (JRC guidance: a tonne is counted once; ``CountedInInventoryError``);
- no blocking double-counting finding may touch them (``BlockedByFindingsError``).

The reporting period is the city's inventory's for the year (a fiscal year, say), or the
calendar year when it has none.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from registry import eligibility, inventories, lineage, policy
from registry.errors import (
    AlreadyClaimedError,
    BlockedByFindingsError,
    CountedInInventoryError,
    LateRetirementError,
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
from registry.schema import batches, claims, events, retirements
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
    period_start, period_end = inventories.reporting_period(conn, event.city, event.year)
    if retired.period_end < period_start or retired.period_start > period_end:
        raise WrongPeriodError(
            "year",
            f"the units were retired for {retired.period_start}..{retired.period_end}, not for {event.year} "
            f"({period_start}..{period_end})",
        )
    window = policy.in_force(conn, at.index).retirement_window_days
    if window is not None:
        logged = conn.execute(sa.select(events.c.logged_at).where(events.c.idx == event.retirement)).scalar_one()
        retired_on = dt.date.fromisoformat(logged[:10])  # RFC 3339, UTC
        deadline = period_end + dt.timedelta(days=window)
        if retired_on > deadline:
            raise LateRetirementError(
                "retirement",
                f"the retirement was logged on {retired_on}, more than {window} days after the reporting "
                f"period ended on {period_end} (deadline {deadline})",
                event.retirement,
            )
    if batch.expires is not None and batch.expires < period_end:
        raise UnitsExpiredError(
            "serial", f"{serial} expire on {batch.expires}, before the end of {event.year} ({period_end})"
        )
    sold = lineage.sold_by(conn, event.retirement, serial, event.city)
    if sold is not None:
        raise SoldUnitsError("serial", f"{event.city!r} sold units of {serial} at log index {sold}")
    for counted in inventories.counting(conn, batch.project, batch.monitoring_start, batch.monitoring_end):
        if counted.city == event.city:
            raise CountedInInventoryError(
                "serial",
                f"{serial} were issued for removals that {event.city!r} counts in its {counted.year} "
                f"inventory at log index {counted.inventory}",
                counted.inventory,
            )
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
