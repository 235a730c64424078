"""Imports of other registries' public exports: their rows become state, and are checked for double counting."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger import canonical
from registry import commands, findings
from registry.errors import AlreadyExistsError, RecordNotFoundError, RuleError
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
    items: list[tuple[str, dict[str, Any]]] = [
        ("problem", {"row": p.row, "field": p.field, "reason": _fit(p.reason)}) for p in parsed.problems
    ]
    for record in parsed.records:
        value, too_long = _record(record)
        items.append(("record", value))
        items.extend(
            ("problem", {"row": record.row, "field": field, "reason": f"longer than {MAX_TEXT:,} characters: not kept"})
            for field in too_long
        )
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


MAX_TEXT = 2000
"""The longest text an ``import`` event carries in one field (registry.events.LongText)."""


def _record(record: ExternalRecord) -> tuple[dict[str, Any], list[str]]:
    """The record as an event carries it, and the names of the text fields too long to carry.

    A field over :data:`MAX_TEXT` characters is left out (and reported as a problem of its row)
    rather than cut: a shortened name or serial would be a different one.
    """
    value = record.to_json()
    del value["source"]  # the event names the source once
    too_long = [k for k, v in value.items() if isinstance(v, str) and len(v) > MAX_TEXT and k != "project"]
    serial = value.get("serial")
    if isinstance(serial, dict) and any(len(str(serial[k])) > MAX_TEXT for k in ("text", "block")):
        too_long.append("serial")
    for field in too_long:
        value[field] = None
    return value, too_long


def _fit(reason: str) -> str:
    """A problem's reason, its quoted excerpt shortened to fit an event (the reason is ours, not the row's)."""
    return reason if len(reason) <= MAX_TEXT else reason[: MAX_TEXT - 1] + "…"


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
    rows = [r.row for r in event.records]
    for start in range(0, len(rows), 500):
        again = conn.execute(
            sa.select(external_records.c.row, external_records.c.idx)
            .where(
                external_records.c.file_sha256 == event.file_sha256,
                external_records.c.row.in_(rows[start : start + 500]),
            )
            .order_by(external_records.c.row)
            .limit(1)
        ).one_or_none()
        if again is not None:
            raise RuleError("records", f"row {again.row} of this file was imported at log index {again.idx}")
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
                    "project_key": findings.project_key(r.project),
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


def import_list(conn: Connection, *, after: int | None, limit: int) -> dict[str, Any]:
    """Imported files in the order of their first part, ``limit`` at a time after the first-part index ``after``."""
    firsts = conn.execute(
        sa.select(imports)
        .where(imports.c.part == 1, imports.c.idx > (-1 if after is None else after))
        .order_by(imports.c.idx)
        .limit(limit)
    ).all()
    digests = [r.file_sha256 for r in firsts]
    parts: dict[str, list[Any]] = {d: [] for d in digests}
    for part in conn.execute(
        sa.select(imports).where(imports.c.file_sha256.in_(digests)).order_by(imports.c.file_sha256, imports.c.part)
    ):
        parts[part.file_sha256].append(part)
    items = [
        {
            "file_sha256": first.file_sha256,
            "source": first.source,
            "file_kind": first.file_kind,
            "file_name": first.file_name,
            "rows": first.rows,
            "parts": first.parts,
            "parts_imported": len(parts[first.file_sha256]),
            "records": sum(p.records for p in parts[first.file_sha256]),
            "problems": sum(p.problems for p in parts[first.file_sha256]),
            "indices": [p.idx for p in parts[first.file_sha256]],
        }
        for first in firsts
    ]
    return {"items": items, "next": firsts[-1].idx if len(firsts) == limit else None}


def import_problems_of(
    conn: Connection, file_sha256: str, *, after: tuple[int, int] | None, limit: int
) -> dict[str, Any]:
    """The rows of an imported file that could not be used as published, and why, ``limit`` at a time.

    In log order (the order of the file's rows); ``after`` is a page's ``next``. Raises
    :class:`RecordNotFoundError` if no such file was imported.
    """
    if conn.execute(sa.select(imports.c.idx).where(imports.c.file_sha256 == file_sha256).limit(1)).first() is None:
        raise RecordNotFoundError(f"no file with SHA-256 {file_sha256} was imported", "import")
    query = (
        sa.select(import_problems)
        .where(import_problems.c.file_sha256 == file_sha256)
        .order_by(import_problems.c.idx, import_problems.c.seq)
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(import_problems.c.idx, import_problems.c.seq) > sa.tuple_(*after))
    rows = conn.execute(query).all()
    return {
        "file_sha256": file_sha256,
        "items": [{"row": r.row, "field": r.field, "reason": r.reason, "index": r.idx} for r in rows],
        "next": f"{rows[-1].idx}.{rows[-1].seq}" if len(rows) == limit else None,
    }
