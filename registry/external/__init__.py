"""Importers for the public exports of other carbon registries.

``parse_export(source, data)`` reads one CSV file as published by one of ``SOURCES`` and gives
a :class:`ParsedExport`: the file's SHA-256, its number of data rows, one
:class:`ExternalRecord` per usable row and one :class:`RowProblem` per thing in a row that
could not be used as published. The steps:

1. the source must be one of ``SOURCES``;
2. the bytes must be UTF-8 (a leading byte-order mark is dropped);
3. the first CSV row is the header; column names are compared with runs of whitespace
   collapsed and ends trimmed (ACR writes ``Status Effective  (GMT)`` in one file and
   ``Status Effective (GMT)`` in another);
4. the header picks the kind of file: the one whose required columns it has; when it has the
   columns of several, the one that requires the most (a Gold Standard retirements file also
   has every column of an issuances file), and none if two tie;
5. every data row (empty lines aside, as the ``csv`` module reads them; a quoted cell over
   several lines is one row) is read by the registry's module for that kind; a row whose number
   of cells differs from the header's is read all the same, with a problem.

Only a file that cannot be read at all raises :class:`ExportFormatError` (steps 1–4).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Mapping

from registry.external import acr, car, gold_standard, isometric, verra
from registry.external.common import Cells, ExportFormat
from registry.external.errors import ExportFormatError
from registry.external.records import ExternalRecord, ExternalSerial, ParsedExport, RowProblem

__all__ = [
    "SOURCES",
    "ExportFormatError",
    "ExternalRecord",
    "ExternalSerial",
    "ParsedExport",
    "RowProblem",
    "file_kinds",
    "parse_export",
]

_FORMATS: Mapping[str, tuple[ExportFormat, ...]] = {
    verra.SOURCE: verra.FORMATS,
    gold_standard.SOURCE: gold_standard.FORMATS,
    acr.SOURCE: acr.FORMATS,
    car.SOURCE: car.FORMATS,
    isometric.SOURCE: isometric.FORMATS,
}

SOURCES: tuple[str, ...] = tuple(_FORMATS)
"""The registries whose exports can be read: verra, gold-standard, american-carbon-registry,
climate-action-reserve, isometric."""


def file_kinds(source: str) -> tuple[str, ...]:
    """The kinds of file ``source`` publishes that can be read; raises ``ExportFormatError`` for an unknown source."""
    return tuple(export.kind for export in _formats(source))


def parse_export(source: str, data: bytes) -> ParsedExport:
    """Read ``data``, one CSV file exported by ``source``, as the module says.

    Raises ``ExportFormatError`` when the source is unknown, the bytes are not UTF-8 or not CSV,
    or the header is not that of a file the source publishes (naming the missing columns).
    Never raises for the content of a row: that becomes a ``RowProblem``.
    """
    formats = _formats(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportFormatError(source, f"not UTF-8: byte {exc.start} ({data[exc.start]:#04x}): {exc.reason}") from exc
    try:
        table = [cells for cells in csv.reader(io.StringIO(text, newline="")) if cells]
    except csv.Error as exc:
        raise ExportFormatError(source, f"not CSV: {exc}") from exc
    if not table:
        raise ExportFormatError(source, "empty: no header row")
    header = [" ".join(name.split()) for name in table[0]]
    export = _recognise(source, formats, header)
    rows: list[Cells] = []
    misshapen = []
    for number, cells in enumerate(table[1:], start=1):
        if len(cells) != len(header):
            misshapen.append(
                RowProblem(source, export.kind, number, "row", f"{len(cells)} cells where the header has {len(header)}")
            )
        rows.append(dict(zip(header, cells, strict=False)))
    records, problems = export.parse(rows)
    return ParsedExport(
        source=source,
        kind=export.kind,
        sha256=hashlib.sha256(data).hexdigest(),
        rows=len(rows),
        records=records,
        problems=tuple(sorted(misshapen + list(problems), key=lambda problem: problem.row)),
    )


def _formats(source: str) -> tuple[ExportFormat, ...]:
    if source not in _FORMATS:
        raise ExportFormatError(source, f"unknown source; the sources are {', '.join(SOURCES)}")
    return _FORMATS[source]


def _recognise(source: str, formats: tuple[ExportFormat, ...], header: list[str]) -> ExportFormat:
    """The kind of file the header is of (step 4), or ``ExportFormatError`` naming the missing columns."""
    names = set(header)
    fitting = [export for export in formats if export.columns <= names]
    if not fitting:
        closest = min(formats, key=lambda export: len(export.columns - names))
        missing = ", ".join(repr(name) for name in sorted(closest.columns - names))
        raise ExportFormatError(
            source, f"header not recognised: closest is the {closest.kind} file, whose columns {missing} are missing"
        )
    most = max(len(export.columns) for export in fitting)
    widest = [export for export in fitting if len(export.columns) == most]
    if len(widest) != 1:
        kinds = " and ".join(export.kind for export in widest)
        raise ExportFormatError(source, f"header not recognised: it fits the {kinds} files alike")
    twice = sorted(name for name, count in Counter(header).items() if count > 1 and name in widest[0].columns)
    if twice:
        raise ExportFormatError(source, f"header has the columns {', '.join(map(repr, twice))} more than once")
    return widest[0]
