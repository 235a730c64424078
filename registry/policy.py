"""The registry's claim policy: rules the operator sets in the log, so that replay applies them alike.

Today one rule is configurable: how long after a reporting period ends a retirement may still
be logged and claimed for it (registry.claims). A ``policy`` event sets it from its own log
index on; without one, a retirement may come at any time.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry.events import PolicySet
from registry.position import Position
from registry.schema import policies
from registry.working import WorkingState


@dataclass(frozen=True)
class Policy:
    """The claim rules in force, and the log index of the ``policy`` event that set them (None: defaults)."""

    retirement_window_days: int | None = None
    set_at: int | None = None


def set_policy(state: WorkingState, event: PolicySet, at: Position) -> None:
    """Put ``event``'s rules in force from log index ``at.index`` on."""
    state.account(event.operator, "operator")
    state.conn.execute(policies.insert().values(idx=at.index, retirement_window_days=event.retirement_window_days))


def in_force(conn: Connection, at: int) -> Policy:
    """The policy in force for the entry at log index ``at``: the latest set before it."""
    row = conn.execute(
        sa.select(policies).where(policies.c.idx < at).order_by(policies.c.idx.desc()).limit(1)
    ).one_or_none()
    if row is None:
        return Policy()
    return Policy(row.retirement_window_days, row.idx)
