"""Imports of other registries' public exports: their rows become state, and are checked for double counting."""

from __future__ import annotations

import sqlalchemy as sa

from registry import findings
from registry.errors import AlreadyExistsError
from registry.events import Imported
from registry.position import Position
from registry.schema import external_records, import_problems, imports
from registry.working import WorkingState


def import_rows(state: WorkingState, event: Imported, at: Position) -> None:
    """Record part ``event.part`` of an export and find what its rows double-count.

    Raises :class:`AlreadyExistsError` if this part of the same file (by SHA-256) was imported
    before: an export is imported once, and re-importing it would only repeat its findings.
    """
    conn = state.conn
    earlier = conn.execute(
        sa.select(imports.c.idx).where(imports.c.file_sha256 == event.file_sha256, imports.c.part == event.part)
    ).scalar_one_or_none()
    if earlier is not None:
        raise AlreadyExistsError("file_sha256", "import part", f"{event.file_sha256} #{event.part}", earlier)
    conn.execute(
        imports.insert().values(
            file_sha256=event.file_sha256,
            part=event.part,
            parts=event.parts,
            source=event.source,
            file_kind=event.file_kind,
            file_name=event.file_name,
            rows=event.rows,
            records=len(event.records),
            problems=len(event.problems),
            idx=at.index,
        )
    )
    if event.records:
        conn.execute(
            external_records.insert(),
            [
                {
                    "file_sha256": event.file_sha256,
                    "row": r.row,
                    "idx": at.index,
                    "source": event.source,
                    "kind": r.kind,
                    "project": r.project,
                    "project_name": r.project_name,
                    "country": r.country,
                    "method": r.method,
                    "removal_method": r.removal_method.value if r.removal_method else None,
                    "unit_class": r.unit_class,
                    "quantity": r.quantity,
                    "vintage": r.vintage,
                    "period_start": r.period_start,
                    "period_end": r.period_end,
                    "date": r.date,
                    "serial": r.serial.text if r.serial else None,
                    "serial_block": r.serial.block if r.serial else None,
                    "serial_first": r.serial.first if r.serial else None,
                    "serial_last": r.serial.last if r.serial else None,
                    "beneficiary": r.beneficiary,
                }
                for r in event.records
            ],
        )
    if event.problems:
        conn.execute(
            import_problems.insert(),
            [
                {"file_sha256": event.file_sha256, "row": p.row, "field": p.field, "idx": at.index, "reason": p.reason}
                for p in event.problems
            ],
        )
    findings.check_imported(conn, event.file_sha256, at.index)
