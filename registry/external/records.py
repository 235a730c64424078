"""What an import of another registry's export yields: records, the problems of rows, the parsed file.

These values are carried inside signed log events, so each has a ``to_json`` that gives
JSON-compatible data (dates as ISO 8601 strings, ``None`` kept) and a ``from_json`` that is its
exact inverse and checks what it is given. Quantities and serial numbers stay within
2**53 − 1 so that every number is an exact JSON integer (RFC 7493, I-JSON, §2.2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.vocabulary import RemovalMethod

MAX_NUMBER = 2**53 - 1

RECORD_KINDS = ("project", "issuance", "retirement", "cancellation")
"""What a row records: a project listing, or units issued, retired or cancelled."""

UNIT_CLASSES = ("removal", "reduction", "avoidance")
"""What an export may say the units are."""

REMOVAL_METHODS = tuple(method.value for method in RemovalMethod)
"""The registry's removal-method vocabulary, as strings."""


@dataclass(frozen=True, slots=True)
class ExternalSerial:
    """A serial range as another registry prints it.

    ``block`` is the part of the serial that names the issuance block the units belong to: two
    ranges are comparable, and can overlap, only when their blocks are equal. ``first`` and
    ``last`` number the first and the last unit of the range, both included.
    """

    text: str
    block: str
    first: int
    last: int

    def __post_init__(self) -> None:
        if not self.text or not self.block:
            raise ValueError("serial: text and block must not be empty")
        if not 0 <= self.first <= self.last <= MAX_NUMBER:
            raise ValueError(f"serial: need 0 <= first <= last <= 2**53 - 1, got {self.first}-{self.last}")

    def overlaps(self, other: ExternalSerial) -> bool:
        """Whether the two ranges share at least one unit: same block, and intersecting numbers."""
        return self.block == other.block and self.first <= other.last and other.first <= self.last

    def to_json(self) -> dict[str, Any]:
        """The range as JSON-compatible data: its four fields."""
        return {"text": self.text, "block": self.block, "first": self.first, "last": self.last}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExternalSerial:
        """The range that ``to_json`` gave ``data``; raises ``ValueError`` if ``data`` is not one."""
        _only_keys(data, ("text", "block", "first", "last"), "serial")
        return cls(
            text=_text(data, "text"),
            block=_text(data, "block"),
            first=_integer(data, "first"),
            last=_integer(data, "last"),
        )


@dataclass(frozen=True, slots=True)
class ExternalRecord:
    """One row of another registry's export, normalised to the registry's terms.

    ``project`` is the project id in the form projects declare in this registry: the registry's
    prefix and its own id, separated by a space (``VCS 1340``, ``GS 11236``, ``ACR 1185``,
    ``CAR 1335``, ``ISOMETRIC prj_1HHYZFVGW1S044ZY``). ``country`` is ISO 3166-1 alpha-2.
    ``method`` is the registry's project type or methodology as published, ``removal_method`` the
    registry's vocabulary value where the published type maps to one without doubt, ``unit_class``
    what the export says the units are. ``period_start`` and ``period_end`` (both or neither) are
    the crediting, monitoring, vintage or reporting period of the row, ``date`` the day the units
    were issued, retired or cancelled (``None`` for projects), ``beneficiary`` on whose behalf
    units were retired. Every field the export does not publish, or publishes unusably, is
    ``None``; the second case comes with a ``RowProblem``.
    """

    source: str
    kind: str
    row: int
    project: str
    project_name: str | None = None
    country: str | None = None
    method: str | None = None
    removal_method: str | None = None
    unit_class: str | None = None
    quantity: int | None = None
    vintage: int | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    date: dt.date | None = None
    serial: ExternalSerial | None = None
    beneficiary: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in RECORD_KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(RECORD_KINDS)}")
        if self.row < 1:
            raise ValueError(f"row: {self.row} is below 1")
        if not self.source or not self.project:
            raise ValueError("source and project must not be empty")
        if self.unit_class is not None and self.unit_class not in UNIT_CLASSES:
            raise ValueError(f"unit_class: {self.unit_class!r} is not one of {', '.join(UNIT_CLASSES)}")
        if self.removal_method is not None and self.removal_method not in REMOVAL_METHODS:
            raise ValueError(f"removal_method: {self.removal_method!r} is not in the vocabulary")
        if self.quantity is not None and not 0 <= self.quantity <= MAX_NUMBER:
            raise ValueError(f"quantity: {self.quantity} is not between 0 and 2**53 - 1")
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("period_end: period_start and period_end come together")
        if self.period_start is not None and self.period_end is not None and self.period_end < self.period_start:
            raise ValueError(f"period_end: {self.period_end} is before period_start {self.period_start}")

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-compatible data: every field, dates as ISO 8601, the serial as its fields."""
        return {
            "source": self.source,
            "kind": self.kind,
            "row": self.row,
            "project": self.project,
            "project_name": self.project_name,
            "country": self.country,
            "method": self.method,
            "removal_method": self.removal_method,
            "unit_class": self.unit_class,
            "quantity": self.quantity,
            "vintage": self.vintage,
            "period_start": _iso(self.period_start),
            "period_end": _iso(self.period_end),
            "date": _iso(self.date),
            "serial": None if self.serial is None else self.serial.to_json(),
            "beneficiary": self.beneficiary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExternalRecord:
        """The record that ``to_json`` gave ``data``; raises ``ValueError`` if ``data`` is not one."""
        _only_keys(data, _RECORD_KEYS, "record")
        serial = data["serial"]
        if serial is not None and not isinstance(serial, Mapping):
            raise ValueError("serial: expected an object or null")
        return cls(
            source=_text(data, "source"),
            kind=_text(data, "kind"),
            row=_integer(data, "row"),
            project=_text(data, "project"),
            project_name=_optional_text(data, "project_name"),
            country=_optional_text(data, "country"),
            method=_optional_text(data, "method"),
            removal_method=_optional_text(data, "removal_method"),
            unit_class=_optional_text(data, "unit_class"),
            quantity=_optional_integer(data, "quantity"),
            vintage=_optional_integer(data, "vintage"),
            period_start=_optional_date(data, "period_start"),
            period_end=_optional_date(data, "period_end"),
            date=_optional_date(data, "date"),
            serial=None if serial is None else ExternalSerial.from_json(serial),
            beneficiary=_optional_text(data, "beneficiary"),
        )


_RECORD_KEYS = tuple(ExternalRecord.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row, or one field of it, that could not be used as published, and why.

    ``kind`` is the kind of the file (``transactions``, ``issuances``…) so that ``source``,
    ``kind`` and ``row`` (1-based, the header not counted) find the row again. ``field`` names the
    record field that was left ``None`` (or ``row`` when the row as a whole is unusable).
    """

    source: str
    kind: str
    row: int
    field: str
    reason: str

    def __post_init__(self) -> None:
        if self.row < 1:
            raise ValueError(f"row: {self.row} is below 1")
        if not self.field or not self.reason:
            raise ValueError("field and reason must not be empty")

    def to_json(self) -> dict[str, Any]:
        """The problem as JSON-compatible data: its five fields."""
        return {"source": self.source, "kind": self.kind, "row": self.row, "field": self.field, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RowProblem:
        """The problem that ``to_json`` gave ``data``; raises ``ValueError`` if ``data`` is not one."""
        _only_keys(data, ("source", "kind", "row", "field", "reason"), "problem")
        return cls(
            source=_text(data, "source"),
            kind=_text(data, "kind"),
            row=_integer(data, "row"),
            field=_text(data, "field"),
            reason=_text(data, "reason"),
        )


@dataclass(frozen=True, slots=True)
class ParsedExport:
    """One export file, read: its digest, its number of data rows, the records and problems of its rows."""

    source: str
    kind: str
    sha256: str
    rows: int
    records: tuple[ExternalRecord, ...]
    problems: tuple[RowProblem, ...]


# --- reading JSON back ---------------------------------------------------------------------------


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _only_keys(data: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    if set(data) != set(keys):
        missing = sorted(set(keys) - set(data))
        extra = sorted(set(data) - set(keys))
        raise ValueError(f"{what}: missing keys {missing}, unexpected keys {extra}")


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    return None if data[key] is None else _text(data, key)


def _integer(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    return value


def _optional_integer(data: Mapping[str, Any], key: str) -> int | None:
    return None if data[key] is None else _integer(data, key)


def _optional_date(data: Mapping[str, Any], key: str) -> dt.date | None:
    value = _optional_text(data, key)
    if value is None:
        return None
    day = dt.date.fromisoformat(value)
    if day.isoformat() != value:  # only the form to_json writes: YYYY-MM-DD
        raise ValueError(f"{key}: {value!r} is not a date written YYYY-MM-DD")
    return day
