"""Imports of other registries' public exports: their rows become state, and are checked for double counting."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger import canonical
from registry import commands, findings
from registry.errors import AlreadyExistsError, RecordNotFoundError
from registry.events import Imported
from registry.external import ExternalRecord, ParsedExport
from registry.position import Position
from registry.schema import external_records, import_problems, imports
from registry.working import WorkingState

MAX_PART_BYTES = 40_000
"""Canonical JSON bytes of rows per ``import`` event: with base64 (4/3) and the envelope, an
entry stays under the 65,535 bytes of an entry bundle (C2SP tlog-tiles)."""


def import_commands(origin: str, operator: str, parsed: ParsedExport, file_name: str) -> list[commands.Command]:
    """The ``import`` events that carry ``parsed``, in parts of at most :data:`MAX_PART_BYTES` of rows.

    Rows keep their order; every record and every problem is carried, none dropped.
    """
    items = [("record", _record(r)) for r in parsed.records] + [
        ("problem", {"row": p.row, "field": p.field, "reason": p.reason}) for p in parsed.problems
    ]
    items.sort(key=lambda item: int(item[1]["row"]))
    chunks: list[list[tuple[str, dict[str, Any]]]] = [[]]
    size = 0
    for item in items:
        length = len(canonical.encode(item[1]))
        if chunks[-1] and size + length > MAX_PART_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += length
    return [
        commands.import_part(
            origin,
            operator,
            source=parsed.source,
            file_name=file_name,
            file_sha256=parsed.sha256,
            file_kind=parsed.kind,
            rows=parsed.rows,
            part=n,
            parts=len(chunks),
            records=[value for what, value in chunk if what == "record"],
            problems=[value for what, value in chunk if what == "problem"],
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


def _record(record: ExternalRecord) -> dict[str, Any]:
    value = record.to_json()
    del value["source"]  # the event names the source once
    return value


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
                {
                    "idx": at.index,
                    "seq": n,
                    "file_sha256": event.file_sha256,
                    "row": p.row,
                    "field": p.field,
                    "reason": p.reason,
                }
                for n, p in enumerate(event.problems)
            ],
        )
    findings.check_imported(conn, event.file_sha256, at.index)


def import_list(conn: Connection) -> list[dict[str, Any]]:
    """Every imported file (its parts summed), in the order of its first part."""
    rows = conn.execute(
        sa.select(
            imports.c.file_sha256,
            imports.c.source,
            imports.c.file_kind,
            imports.c.file_name,
            imports.c.rows,
            imports.c.parts,
            sa.func.count().label("imported"),
            sa.func.sum(imports.c.records).label("records"),
            sa.func.sum(imports.c.problems).label("problems"),
            sa.func.min(imports.c.idx).label("first"),
        )
        .group_by(
            imports.c.file_sha256,
            imports.c.source,
            imports.c.file_kind,
            imports.c.file_name,
            imports.c.rows,
            imports.c.parts,
        )
        .order_by(sa.func.min(imports.c.idx))
    )
    return [
        {
            "file_sha256": r.file_sha256,
            "source": r.source,
            "file_kind": r.file_kind,
            "file_name": r.file_name,
            "rows": r.rows,
            "parts": r.parts,
            "parts_imported": r.imported,
            "records": int(r.records),
            "problems": int(r.problems),
            "indices": [
                i
                for (i,) in conn.execute(
                    sa.select(imports.c.idx).where(imports.c.file_sha256 == r.file_sha256).order_by(imports.c.part)
                )
            ],
        }
        for r in rows
    ]


def import_problems_of(conn: Connection, file_sha256: str) -> list[dict[str, Any]]:
    """The rows of an imported file that could not be used as published, and why, in row order.

    Raises :class:`RecordNotFoundError` if no such file was imported.
    """
    if conn.execute(sa.select(imports.c.idx).where(imports.c.file_sha256 == file_sha256).limit(1)).first() is None:
        raise RecordNotFoundError(f"no file with SHA-256 {file_sha256} was imported")
    rows = conn.execute(
        sa.select(import_problems)
        .where(import_problems.c.file_sha256 == file_sha256)
        .order_by(import_problems.c.row, import_problems.c.idx, import_problems.c.seq)
    )
    return [{"row": r.row, "field": r.field, "reason": r.reason, "index": r.idx} for r in rows]
