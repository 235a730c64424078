"""Projects: what a supplier removes, how, where, and under which scheme."""

from __future__ import annotations

import sqlalchemy as sa

from ledger import canonical
from registry.errors import AlreadyExistsError, RuleError
from registry.events import ProjectRegistered
from registry.position import Position
from registry.schema import projects
from registry.working import WorkingState


def register_project(state: WorkingState, event: ProjectRegistered, at: Position) -> None:
    """Register ``event.project`` for its supplier (a supplier, or a city for its own sinks)."""
    conn = state.conn
    existing = conn.execute(sa.select(projects.c.registered_at).where(projects.c.id == event.project)).scalar()
    if existing is not None:
        raise AlreadyExistsError("project", "project", event.project, existing)
    supplier = state.account(event.supplier, "supplier")
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
