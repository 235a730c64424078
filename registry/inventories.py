"""City inventories: emissions by GPC sector and scope, and removals inside the city's boundary.

An inventory is what the city itself counts for a reporting year (JRC guidance on negative
emissions for cities: gross emissions and in-boundary removals are reported as separate
terms). A city has one inventory per year; a revision names the one it replaces, which stays
in the log as evidence but no longer counts.

A removal line that names a project links the city's own count to the credits that project
issues, which is how two kinds of double claiming (DESIGN.md §4) are caught:

- the city counts a removal *and* claims a credit issued for it — refused both ways round
  (:class:`~registry.errors.ClaimedAsCreditError` here, ``CountedInInventoryError`` in
  registry.claims);
- the city sells, or retires for someone else, credits from a removal it counts — allowed,
  but raised as a ``sold-counted-removal`` warning, and the statement adds those units to the
  city's positive side (registry.balance).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from registry import findings
from registry.errors import ClaimedAsCreditError, InventoryExistsError, RuleError, UnknownError
from registry.events import Inventoried, Retired, Sold
from registry.position import Position
from registry.schema import (
    accounts,
    batches,
    claims,
    inventories,
    inventory_emissions,
    inventory_removals,
    movements,
    projects,
)
from registry.vocabulary import Role
from registry.working import WorkingState


def record_inventory(state: WorkingState, event: Inventoried, at: Position) -> None:
    """Record ``event`` as the city's inventory for its year, or raise the first rule it breaks."""
    conn = state.conn
    state.cache.counted = None  # this inventory may link projects: read them again when next needed
    city = state.account(event.city, "city")
    if city.role != Role.CITY:
        raise RuleError("city", f"account {city.id!r} is a {city.role}; only cities submit inventories")
    current = current_inventory(conn, event.city, event.year)
    if current is not None and event.revises != current.idx:
        raise InventoryExistsError(event.city, event.year, current.idx)
    if current is None and event.revises is not None:
        raise RuleError("revises", f"{event.city!r} has no inventory for {event.year} at log index {event.revises}")
    start, end = event.bounds
    _keep_claimed_period(conn, event, current, (start, end))
    where = conn.execute(
        sa.select(accounts.c.country, accounts.c.municipality).where(accounts.c.id == event.city)
    ).one()
    linked: dict[str, None] = {}  # each project once, in line order
    for n, line in enumerate(event.removals):
        if line.project is None:
            continue
        field = f"removals.{n}.project"
        project = conn.execute(sa.select(projects).where(projects.c.id == line.project)).one_or_none()
        if project is None:
            raise UnknownError(field, "project", line.project)
        if (project.country, project.municipality) != (where.country, where.municipality):
            raise RuleError(
                field,
                f"project {project.id!r} is in {project.country} municipality {project.municipality or '(none)'}, "
                f"outside the boundary of {event.city!r} ({where.country} {where.municipality})",
            )
        if project.method != line.method.value:
            raise RuleError(f"removals.{n}.method", f"project {project.id!r} removes by {project.method}")
        claimed = _claims_on(conn, event.city, project.id, start, end)
        if claimed is not None:
            raise ClaimedAsCreditError(
                field,
                f"{event.city!r} claimed credits of {project.id!r} for the same removal at log index {claimed}",
                claimed,
            )
        linked[project.id] = None
    if current is not None:
        conn.execute(inventories.update().where(inventories.c.idx == current.idx).values(superseded_by=at.index))
    conn.execute(
        inventories.insert().values(
            idx=at.index,
            city=event.city,
            year=event.year,
            period_start=start,
            period_end=end,
            base_year=event.base_year,
            gwp=event.gwp,
            revises=event.revises,
        )
    )
    conn.execute(
        inventory_emissions.insert(),
        [
            {
                "idx": at.index,
                "line": n,
                "sector": line.sector.value,
                "subsector": line.subsector,
                "scope": line.scope,
                "tonnes": line.tonnes,
                "notation": line.notation,
            }
            for n, line in enumerate(event.emissions)
        ],
    )
    if event.removals:
        conn.execute(
            inventory_removals.insert(),
            [
                {
                    "idx": at.index,
                    "line": n,
                    "method": line.method.value,
                    "durability": line.durability,
                    "tonnes": line.tonnes,
                    "project": line.project,
                    "description": line.description,
                }
                for n, line in enumerate(event.removals)
            ],
        )
    for linked_project in linked:
        _sold_before(conn, event.city, linked_project, (start, end), at.index)


def _keep_claimed_period(
    conn: Connection, event: Inventoried, current: Row[Any] | None, period: tuple[dt.date, dt.date]
) -> None:
    """Refuse to move the reporting period of a year the city has already claimed for.

    The claim rules (the retirement's period, its lateness, expiry) were checked against the
    period in force when each claim was made; a new period would leave them unchecked.
    """
    before = (
        (current.period_start, current.period_end)
        if current is not None
        else (dt.date(event.year, 1, 1), dt.date(event.year, 12, 31))
    )
    if period == before:
        return
    claimed = conn.execute(
        sa.select(sa.func.min(claims.c.idx)).where(claims.c.city == event.city, claims.c.year == event.year)
    ).scalar_one()
    if claimed is not None:
        raise RuleError(
            "period",
            f"{event.city!r} claimed retirements for {event.year} against the period {before[0]}..{before[1]} "
            f"(first at log index {claimed}); the reporting period cannot change once claimed against",
        )


def current_inventory(conn: Connection, city: str, year: int) -> Row[Any] | None:
    """The inventory that counts for ``city`` and ``year`` (the latest revision), or None."""
    return conn.execute(
        sa.select(inventories).where(
            inventories.c.city == city, inventories.c.year == year, inventories.c.superseded_by.is_(None)
        )
    ).one_or_none()


def reporting_period(conn: Connection, city: str, year: int) -> tuple[dt.date, dt.date]:
    """The city's reporting period for ``year``: its inventory's, or the calendar year."""
    current = current_inventory(conn, city, year)
    if current is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    return current.period_start, current.period_end


@dataclass(frozen=True)
class Counted:
    """An inventory line by which a city counts a removal that ``project`` also credits."""

    inventory: int
    city: str
    year: int
    project: str


def counting(conn: Connection, project: str, start: dt.date, end: dt.date) -> list[Counted]:
    """The current inventories that count removals of ``project`` in a period overlapping ``start..end``."""
    rows = conn.execute(
        sa.select(inventories.c.idx, inventories.c.city, inventories.c.year)
        .join(inventory_removals, inventory_removals.c.idx == inventories.c.idx)
        .where(
            inventory_removals.c.project == project,
            inventories.c.superseded_by.is_(None),
            inventories.c.period_start <= end,
            inventories.c.period_end >= start,
        )
        .distinct()
        .order_by(inventories.c.idx)
    ).all()
    return [Counted(row.idx, row.city, row.year, project) for row in rows]


def check_leaving(state: WorkingState, event: Sold | Retired, at: Position) -> None:
    """Raise a ``sold-counted-removal`` warning if ``event`` sells, or retires for someone else,
    units from a removal that a city counts in its inventory (the statement adds them to that
    city's positive side). Reads only when some inventory links a project at all."""
    serial = event.serial
    if serial.project not in state.cache.counted_projects(state.conn):
        return
    batch = state.conn.execute(
        sa.select(batches.c.monitoring_start, batches.c.monitoring_end).where(batches.c.number == serial.batch)
    ).one()
    seq = 0
    for counted in counting(state.conn, serial.project, batch.monitoring_start, batch.monitoring_end):
        receiver = event.beneficiary.account if isinstance(event, Retired) else event.to
        if receiver == counted.city:  # retired for the city, or bought by it: not leaving it
            continue
        # A sale is applied in the working state, so its finding waits with its other rows.
        units = findings.Units(serial.batch, serial.first, serial.last)
        kind, message, facts = _warning(counted, units, event.type, at.index)
        row, unit_rows = findings.rows(at.index, seq, kind, message, **facts)
        state.add("reg_findings", row)
        for unit_row in unit_rows:
            state.add("reg_finding_units", unit_row)
        seq += 1


EVIDENCE_LISTED = 20
"""At most this many movements are named as a finding's evidence (its column is bounded); the
finding's detail lists them all."""


def _sold_before(conn: Connection, city: str, project: str, period: tuple[dt.date, dt.date], at: int) -> None:
    """One warning for the units of ``project``'s batches of the period that were sold, or retired
    for another, before ``at``: their ranges merged, whatever the number of movements."""
    start, end = period
    rows = conn.execute(
        sa.select(movements.c.idx, movements.c.batch, movements.c.first, movements.c.last, movements.c.receiver)
        .join(batches, batches.c.number == movements.c.batch)
        .where(
            batches.c.project == project,
            batches.c.monitoring_start <= end,
            batches.c.monitoring_end >= start,
            movements.c.kind.in_(("sale", "retirement")),
        )
        .order_by(movements.c.batch, movements.c.first)
    ).all()
    moved = [row for row in rows if row.receiver != city]
    if not moved:
        return
    units: list[findings.Units] = []
    for row in moved:  # sorted by batch, then first serial: merge overlapping and touching ranges
        last = units[-1] if units else None
        if last is not None and last.batch == row.batch and row.first <= last.last + 1:
            units[-1] = findings.Units(row.batch, last.first, max(last.last, row.last))
        else:
            units.append(findings.Units(row.batch, row.first, row.last))
    indices = sorted({row.idx for row in moved})
    tonnes = sum(u.last - u.first + 1 for u in units)
    findings.record(
        conn,
        at,
        findings.Kind.SOLD_COUNTED_REMOVAL,
        f"{tonnes} units of {project!r} were sold or retired for someone else (at log indices "
        f"{_listed(indices)}), while {city!r} now counts the removal in its inventory at log index {at}: "
        "its statement adds them to its positive emissions",
        evidence=indices[:EVIDENCE_LISTED],
        units=units,
        project=project,
        account=city,
        detail={"inventory": at, "moved_at": indices},
    )


def _listed(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:EVIDENCE_LISTED])
    return shown if len(indices) <= EVIDENCE_LISTED else f"{shown} and {len(indices) - EVIDENCE_LISTED} more"


def _warning(
    counted: Counted, units: findings.Units, how: str, moved_at: int
) -> tuple[findings.Kind, str, dict[str, Any]]:
    """The ``sold-counted-removal`` finding for ``units`` that left the city at ``moved_at``."""
    verb = "sold" if how == "sale" else "retired for someone else"
    message = (
        f"units {units.batch}:{units.first}-{units.last} of {counted.project!r} were {verb} at log index "
        f"{moved_at}, while {counted.city!r} counts the removal in its inventory at log index "
        f"{counted.inventory}: its statement adds them to its positive emissions"
    )
    return (
        findings.Kind.SOLD_COUNTED_REMOVAL,
        message,
        {
            "evidence": (moved_at, counted.inventory),
            "units": [units],
            "project": counted.project,
            "account": counted.city,
            "detail": {"inventory": counted.inventory, "how": how},
        },
    )


def _claims_on(conn: Connection, city: str, project: str, start: dt.date, end: dt.date) -> int | None:
    """The first claim by ``city`` on units of ``project`` issued for a period overlapping ``start..end``."""
    first: int | None = conn.execute(
        sa.select(sa.func.min(claims.c.idx))
        .join(batches, batches.c.number == claims.c.batch)
        .where(
            claims.c.city == city,
            batches.c.project == project,
            batches.c.monitoring_start <= end,
            batches.c.monitoring_end >= start,
        )
    ).scalar_one()
    return first
