"""The check a claim must pass: no blocking double-counting finding touches the claimed units.

Before a city's claim on retired units is accepted (DESIGN.md §4), the ownership graph traces
the units back to their issuance and the findings that touch them are gathered; any blocking
one refuses the claim, and the refusal lists every finding with its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from registry import findings, lineage, queries
from registry.errors import BlockedByFindingsError, RecordNotFoundError
from registry.lineage import Lineage, Step
from registry.schema import batches, finding_units, retirements
from registry.serials import SerialRange


@dataclass(frozen=True)
class Checked:
    """What the check saw: the units' path and the findings (warnings only, when it passed)."""

    serial: SerialRange
    path: list[Step]
    findings: list[findings.Finding]


def touching(conn: Connection, serial: SerialRange) -> list[findings.Finding]:
    """Every finding that touches any unit of ``serial``, in log order."""
    keys = conn.execute(
        sa.select(finding_units.c.idx, finding_units.c.seq)
        .where(
            finding_units.c.batch == serial.batch,
            finding_units.c.first <= serial.last,
            finding_units.c.last >= serial.first,
        )
        .distinct()
    ).all()
    return findings.load(conn, keys=[(k.idx, k.seq) for k in keys]) if keys else []


def check_units(conn: Connection, lineage: Lineage, serial: SerialRange) -> Checked:
    """Trace ``serial`` and raise :class:`BlockedByFindingsError` if a blocking finding touches it."""
    path = lineage.trace(conn, serial)
    found = touching(conn, serial)
    blocking = [f.to_json() for f in found if f.severity == findings.Severity.BLOCKING]
    if blocking:
        raise BlockedByFindingsError(str(serial), blocking)
    return Checked(serial, path, found)


def check_retirement(conn: Connection, lineage: Lineage, index: int) -> Checked:
    """:func:`check_units` for the units retired by the entry at log ``index``.

    Raises :class:`RecordNotFoundError` if no retirement was made there.
    """
    row = conn.execute(
        sa.select(retirements.c.batch, retirements.c.first, retirements.c.last, batches.c.project, batches.c.vintage)
        .join(batches, batches.c.number == retirements.c.batch)
        .where(retirements.c.idx == index)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no retirement at log index {index}", "retirement")
    return check_units(conn, lineage, SerialRange(row.project, row.vintage, row.batch, row.first, row.last))


def trace_report(
    conn: Connection, graph: Lineage, printed: str, *, max_blocks: int | None = None
) -> tuple[list[Step], dict[str, Any]]:
    """The lineage of the serial range ``printed``: its steps, and as JSON with the findings touching it.

    Raises :class:`RecordNotFoundError` if the range was never issued as printed, and
    :class:`RangeTooWideError` if its units lie in more than ``max_blocks`` blocks.
    """
    units = queries.resolve(conn, printed)
    steps = graph.trace(conn, units, max_blocks=max_blocks)
    as_json = lineage.to_json(steps)
    return steps, {
        "serial": str(units),
        "steps": as_json["nodes"],
        "edges": as_json["edges"],
        "findings": [f.to_json() for f in touching(conn, units)],
    }
