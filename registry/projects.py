"""Projects: what a supplier removes, how, where, and under which scheme."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger import canonical
from registry.accounts import get_account
from registry.errors import AlreadyExistsError, RuleError, UnknownError
from registry.events import ProjectRegistered
from registry.position import Position
from registry.schema import projects
from registry.vocabulary import UnitType


@dataclass(frozen=True)
class Project:
    id: str
    supplier: str
    unit_type: UnitType


def get_project(conn: Connection, project: str, field: str) -> Project:
    """Return the project; raise :class:`UnknownError` naming ``field`` if there is none."""
    row = conn.execute(
        sa.select(projects.c.id, projects.c.supplier, projects.c.unit_type).where(projects.c.id == project)
    ).one_or_none()
    if row is None:
        raise UnknownError(field, "project", project)
    return Project(row.id, row.supplier, UnitType(row.unit_type))


def register_project(conn: Connection, event: ProjectRegistered, at: Position) -> None:
    """Register ``event.project`` for its supplier (a supplier, or a city for its own sinks)."""
    existing = conn.execute(sa.select(projects.c.registered_at).where(projects.c.id == event.project)).scalar()
    if existing is not None:
        raise AlreadyExistsError("project", "project", event.project, existing)
    supplier = get_account(conn, event.supplier, "supplier")
    if not supplier.role.may_develop:
        raise RuleError(
            "supplier", f"account {supplier.id!r} is a {supplier.role}; projects belong to suppliers or cities"
        )
    location = event.location
    conn.execute(
        projects.insert().values(
            id=event.project,
            supplier=event.supplier,
            name=event.name,
            method=event.method.value,
            unit_type=event.unit_type.value,
            country=location.country,
            subdivision=location.subdivision,
            municipality=location.municipality,
            latitude=location.latitude,
            longitude=location.longitude,
            methodology=event.methodology,
            scheme=event.scheme,
            external_ids=canonical.encode(list(event.external_ids)).decode(),
            registered_at=at.index,
        )
    )
