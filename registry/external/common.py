"""Reading the cells of an export: numbers, dates, countries, project ids, serial ranges.

Each registry module says which columns it reads and in which layout; :class:`RowReader` reads
one row's cells with the helpers here and, where a cell cannot be used as published, records a
:class:`RowProblem` and leaves the field ``None`` instead of raising, so that no row is ever
dropped silently. The pure helpers (``parse_…``) raise ``ValueError`` naming what was wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

import pycountry

from registry.external.records import MAX_NUMBER, ExternalRecord, ExternalSerial, RowProblem

Cells = Mapping[str, str]
"""One data row: its cells by column name (names with runs of whitespace collapsed)."""

Parsed = tuple[tuple[ExternalRecord, ...], tuple[RowProblem, ...]]
"""What reading the rows of one file gives: its records and the problems of its rows."""

DateLayout = Literal["iso", "us"]
"""``iso``: ``2026-04-13``, ``2026-04-13T12:35:58.842275``, ``2026-04-14T16:50:41.621676Z`` (ISO 8601);
``us``: ``03/19/2026``, ``11/3/2025 7:10:41 PM`` (month first, as the US registries publish)."""


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One kind of file a registry publishes: the columns that recognise it and the function that reads it."""

    kind: str
    columns: frozenset[str]
    parse: Callable[[Sequence[Cells]], Parsed]


# --- numbers ---------------------------------------------------------------------------------------

_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")  # 1,454,054 (Verra)
_PLAIN = re.compile(r"[0-9]+(?:\.0+)?")  # 425, 550369.0 (pandas-written integers: ACR, CAR)


def parse_whole_number(text: str) -> int:
    """The whole number ``text`` writes: digits, optionally grouped by commas or followed by ``.0``.

    Raises ``ValueError`` for anything else: a fraction, a sign, a blank, letters.
    """
    if _GROUPED.fullmatch(text):
        return int(text.replace(",", ""))
    if _PLAIN.fullmatch(text):
        return int(text.partition(".")[0])
    raise ValueError(f"{text!r} is not a whole number")


def parse_decimal(text: str) -> Decimal:
    """The non-negative decimal number ``text`` writes (``2765.37``); raises ``ValueError`` otherwise."""
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        raise ValueError(f"{text!r} is not a decimal number")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # unreachable for text the pattern admits; kept as the contract
        raise ValueError(f"{text!r} is not a decimal number") from exc


# --- dates -----------------------------------------------------------------------------------------

_US_DATE = re.compile(r"(?P<month>[0-9]{1,2})/(?P<day>[0-9]{1,2})/(?P<year>[0-9]{4})(?P<time> .+)?")
_US_TIME = re.compile(r" (1[0-2]|0?[1-9]):[0-5][0-9]:[0-5][0-9] [AP]M")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str, layout: DateLayout) -> dt.date:
    """The day ``text`` writes in ``layout``; raises ``ValueError`` if it is not a real date in that layout.

    A date-time gives its day; one with an offset (``Z``) gives its day in UTC. One without an
    offset gives the day as written: ACR's are GMT (its column names say so), Gold Standard's
    name no zone.
    """
    if layout == "us":
        match = _US_DATE.fullmatch(text)
        if match is None or (match["time"] is not None and not _US_TIME.fullmatch(match["time"])):
            raise ValueError(f"{text!r} is not a date written M/D/YYYY [h:mm:ss AM|PM]")
        try:
            return dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date ({exc})") from exc
    if not _ISO_DATE.match(text):
        raise ValueError(f"{text!r} is not an ISO 8601 date (YYYY-MM-DD…)")
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time ({exc})") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


# --- countries -------------------------------------------------------------------------------------

# Names the registries still publish for countries that ISO 3166-1 has since renamed.
_FORMER_NAMES = {
    "turkey": "TR",  # ISO 3166-1 short name "Türkiye" since 2022 (ISO 3166 MA); Gold Standard writes "Turkey"
}


def _name_key(name: str) -> str:
    """A country name reduced to compare as registries write it: case, commas and spacing ignored.

    Gold Standard writes "Tanzania United Republic of" for ISO's "Tanzania, United Republic of".
    """
    return " ".join(re.sub(r"[,.]", " ", name).casefold().split())


@functools.cache
def _country_index() -> dict[str, str]:
    """Every ISO 3166-1 code and name (short, official, common) of each country, to its alpha-2 code.

    A key that would name two countries is left out, so a lookup never picks one of two.
    """
    index: dict[str, str] = {}
    clashes: set[str] = set()
    for country in pycountry.countries:
        fields = dict(country)
        code = fields["alpha_2"]
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            if attribute not in fields:
                continue
            key = _name_key(fields[attribute])
            if index.get(key, code) != code:
                clashes.add(key)
            index[key] = code
    for key in clashes:
        del index[key]
    for key, code in _FORMER_NAMES.items():
        index.setdefault(key, code)
    return index


def country_code(text: str) -> str:
    """The ISO 3166-1 alpha-2 code of the country ``text`` names by its alpha-2 or alpha-3 code or its name.

    Only exact names match (case, commas and spacing aside), never a guess: raises
    ``ValueError`` for anything else ("International", a misspelling, a region).
    """
    code = _country_index().get(_name_key(text))
    if code is None:
        raise ValueError(f"{text!r} is not an ISO 3166-1 country name or code")
    return code


# --- serial ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SerialLayout:
    """How one registry prints a serial range: a pattern with the groups ``block``, ``first``, ``last``
    and, where the serial names the project, ``project``; ``shape`` describes it to a person."""

    shape: str
    pattern: re.Pattern[str]

    def read(self, text: str) -> tuple[ExternalSerial, str | None]:
        """The range ``text`` prints and the project number it names, if any; raises ``ValueError``."""
        match = self.pattern.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a serial range of the form {self.shape}")
        first, last = int(match["first"]), int(match["last"])
        if last < first:
            raise ValueError(f"{text!r} ends at {last}, before its first unit {first}")
        project = match.groupdict().get("project")
        return ExternalSerial(text=text, block=match["block"], first=first, last=last), project


SerialReader = Callable[[str], tuple[ExternalSerial, str | None]]
"""Reads a printed serial: the range, and the project number it names (or ``None``); raises ``ValueError``."""


# --- the removal-method vocabulary -----------------------------------------------------------------


def classify(published: str | None, lookup: Callable[[str], str | None]) -> str | None:
    """The removal method ``lookup`` gives the published type, or ``None`` if that is not certain.

    ``lookup`` is given each item case-folded. A published list (``VM0007; VM0033``) maps only
    when every item maps, and to the same value; a type ``lookup`` does not know maps to ``None``.
    """
    if published is None:
        return None
    methods = {lookup(item.strip().casefold()) for item in published.split(";")}
    if len(methods) != 1:
        return None
    return methods.pop()


def unit_class_from_labels(labels: str | None, separator: str, table: Mapping[str, str]) -> str | None:
    """The unit class that a cell of labels names (``table``: case-folded label to class), if exactly one."""
    items = (item.strip().casefold() for item in (labels or "").split(separator))
    classes = {table[item] for item in items if item in table}
    return classes.pop() if len(classes) == 1 else None


# --- rows ------------------------------------------------------------------------------------------


class RowReader:
    """One data row of one file, read field by field; what cannot be used becomes a ``RowProblem``.

    Each reading method returns ``None`` for an empty cell; for a cell it cannot use it also
    adds a problem naming the record field and why. ``required`` makes an empty cell a problem.
    """

    def __init__(self, source: str, kind: str, row: int, cells: Cells) -> None:
        self.source = source
        self.kind = kind
        self.row = row
        self._cells = cells
        self.problems: list[RowProblem] = []

    def problem(self, field: str, reason: str) -> None:
        """Record that ``field`` of this row could not be used, and why."""
        self.problems.append(RowProblem(self.source, self.kind, self.row, field, reason))

    def text(self, column: str, field: str = "", *, required: bool = False) -> str | None:
        """The cell's text without surrounding whitespace, ``None`` when empty."""
        value = (self._cells.get(column) or "").strip()
        if not value:
            if required:
                self.problem(field or column, f"column {column!r} is empty")
            return None
        return value

    def choice(self, column: str, field: str, table: Mapping[str, str | None]) -> str | None:
        """What ``table`` (case-folded published value to field value) gives the cell; an unknown value is a problem."""
        text = self.text(column)
        if text is None:
            return None
        if text.casefold() not in table:
            self.problem(field, f"column {column!r}: {text!r} is not one of {', '.join(map(repr, table))}")
            return None
        return table[text.casefold()]

    def whole_number(self, column: str, field: str, *, required: bool = False) -> int | None:
        """The cell as a whole number (:func:`parse_whole_number`)."""
        text = self.text(column, field, required=required)
        if text is None:
            return None
        try:
            number = parse_whole_number(text)
        except ValueError as exc:
            self.problem(field, f"column {column!r}: {exc}")
            return None
        if number > MAX_NUMBER:
            self.problem(field, f"column {column!r}: {number} is beyond 2**53 - 1, the largest exact JSON integer")
            return None
        return number

    def year(self, column: str) -> int | None:
        """The cell as a vintage year (four digits, optionally ``.0``)."""
        number = self.whole_number(column, "vintage")
        if number is not None and not 1900 <= number <= 2200:
            self.problem("vintage", f"column {column!r}: {number} is not a vintage year")
            return None
        return number

    def day(self, column: str, layout: DateLayout, field: str, *, required: bool = False) -> dt.date | None:
        """The cell as a day (:func:`parse_date`)."""
        text = self.text(column, field, required=required)
        if text is None:
            return None
        try:
            return parse_date(text, layout)
        except ValueError as exc:
            self.problem(field, f"column {column!r}: {exc}")
            return None

    def period(self, start: str, end: str, layout: DateLayout) -> tuple[dt.date | None, dt.date | None]:
        """The period the two cells bound: both days, or neither when it cannot be used whole."""
        first = self.day(start, layout, "period_start")
        last = self.day(end, layout, "period_end")
        if first is None and last is None:
            return None, None
        if first is None or last is None:
            if self.text(start) is None or self.text(end) is None:  # one bound unpublished: no period
                missing = start if first is None else end
                self.problem("period_start" if first is None else "period_end", f"column {missing!r} is empty")
            return None, None
        if last < first:
            self.problem("period_end", f"column {end!r}: {last} is before the period's start {first}")
            return None, None
        return first, last

    def country(self, column: str) -> str | None:
        """The cell as an ISO 3166-1 alpha-2 code (:func:`country_code`)."""
        text = self.text(column)
        if text is None:
            return None
        try:
            return country_code(text)
        except ValueError as exc:
            self.problem("country", f"column {column!r}: {exc}")
            return None

    def project(self, column: str, prefix: str, pattern: re.Pattern[str]) -> tuple[str, str] | None:
        """The project id in the registry's form (``prefix`` + space + id) and the registry's own id.

        ``pattern`` has a group ``id``. An empty or unrecognised cell is a problem, and the row
        then yields no record: a record belongs to a project.
        """
        text = self.text(column, "project", required=True)
        if text is None:
            return None
        match = pattern.fullmatch(text)
        if match is None:
            self.problem("project", f"column {column!r}: {text!r} is not a {prefix} project id")
            return None
        return f"{prefix} {match['id']}", match["id"]

    def serial(
        self, column: str, read: SerialReader, project: str, quantity: int | None
    ) -> tuple[ExternalSerial | None, int | None]:
        """The serial range of the row and the quantity, checked against each other.

        The serial must parse, name the row's ``project`` (the registry's own id) where it names
        one, and count ``quantity`` units (``last − first + 1``). An unusable serial is ``None``;
        a quantity that differs from the range's count is ``None``, the range kept as printed.
        """
        text = self.text(column, "serial", required=True)
        if text is None:
            return None, quantity
        try:
            serial, named = read(text)
        except ValueError as exc:
            self.problem("serial", f"column {column!r}: {exc}")
            return None, quantity
        if named is not None and named.lstrip("0") != project.lstrip("0"):
            self.problem("serial", f"column {column!r}: {text!r} names project {named}, the row {project}")
            return None, quantity
        units = serial.last - serial.first + 1
        if quantity is not None and quantity != units:
            self.problem(
                "quantity", f"{quantity} is not the {units} units of serial range {serial.first}-{serial.last}"
            )
            return serial, None
        return serial, quantity


def read_rows(
    source: str, kind: str, rows: Sequence[Cells], read_row: Callable[[RowReader], ExternalRecord | None]
) -> Parsed:
    """Read every row with ``read_row``: the records it made and the problems found, in row order."""
    records: list[ExternalRecord] = []
    problems: list[RowProblem] = []
    for number, cells in enumerate(rows, start=1):
        reader = RowReader(source, kind, number, cells)
        record = read_row(reader)
        if record is not None:
            records.append(record)
        problems.extend(reader.problems)
    return tuple(records), tuple(problems)
