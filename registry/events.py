"""The registry's event format: one model per event ``type``, parsed strictly.

An event is the RFC 8785 canonical JSON payload of a DSSE envelope. Every event carries:

- ``type`` — one of the names below (part of the format, DESIGN.md §4);
- ``registry`` — the origin of the log it is meant for, so that an envelope replayed from
  another registry's log is refused;
- ``id`` — an idempotency id chosen by the client: resubmitting the same event returns its
  original log index, and reusing the id for a different event is refused.

Each event names the accounts that must sign it (``operator``, ``supplier``, ``verifier``,
``from``, ``holder``). Parsing is strict: unknown fields, wrong JSON types, zero or negative
quantities, dates out of order and malformed serials are refused with an
:class:`~registry.errors.InvalidEventError` that names the field.
"""

from __future__ import annotations

import datetime as dt
import re
from abc import abstractmethod
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ledger import b64, canonical
from ledger.errors import CanonicalJSONError
from registry import serials
from registry.errors import InvalidEventError
from registry.serials import SLUG, SerialRange
from registry.vocabulary import CancellationReason, GpcSector, RemovalMethod, Role, UnitType

MAX_QUANTITY = serials.MAX_SERIAL


def _date(value: Any) -> dt.date:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return dt.date.fromisoformat(value)


def _serial(value: Any) -> SerialRange:
    if not isinstance(value, str):
        raise ValueError("must be a printed serial range <project>.<vintage>.<batch>.<first>-<last>")
    try:
        return serials.parse(value)
    except serials.SerialFormatError as exc:
        raise ValueError(str(exc)) from None


def _public_key(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be the base64 of a 32-byte Ed25519 public key")
    try:
        raw = b64.decode(value)
    except ValueError as exc:
        raise ValueError(f"is not canonical base64: {exc}") from None
    if len(raw) != 32:
        raise ValueError(f"must be a 32-byte Ed25519 public key, got {len(raw)} bytes")
    return raw


Date = Annotated[dt.date, BeforeValidator(_date), PlainSerializer(lambda d: d.isoformat())]
Serial = Annotated[SerialRange, BeforeValidator(_serial), PlainSerializer(str)]
PublicKey = Annotated[bytes, BeforeValidator(_public_key), PlainSerializer(b64.encode)]
Slug = Annotated[str, Field(pattern=f"^{SLUG}$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
Sha256 = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
KeyId = Annotated[str, Field(pattern="^[0-9a-f]{32}$")]
CountryCode = Annotated[str, Field(pattern="^[A-Z]{2}$")]  # ISO 3166-1 alpha-2
SubdivisionCode = Annotated[str, Field(pattern="^[A-Z]{2}-[A-Z0-9]{1,3}$")]  # ISO 3166-2
Decimal = Annotated[str, Field(pattern=r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,12})?$")]  # no floats in signed data
Year = Annotated[int, Field(ge=1900, le=2200)]
ExternalIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=32)]
# Enumerations are given by their string values (strict mode would want enum instances).
RoleName = Annotated[Role, Field(strict=False)]
MethodName = Annotated[RemovalMethod, Field(strict=False)]
UnitTypeName = Annotated[UnitType, Field(strict=False)]
ReasonName = Annotated[CancellationReason, Field(strict=False)]


def _latitude(value: str) -> str:
    if not -90 <= float(value) <= 90:
        raise ValueError("latitude must lie within -90..90")
    return value


def _longitude(value: str) -> str:
    if not -180 <= float(value) <= 180:
        raise ValueError("longitude must lie within -180..180")
    return value


class Model(BaseModel):
    """Base of every event part: immutable, strict JSON types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)


class Event(Model):
    """Fields common to every event."""

    registry: Text
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]

    @abstractmethod
    def signers(self) -> tuple[str, ...]:
        """The accounts whose signatures this event requires, exactly (no other account may sign)."""


class OperatorEvent(Event):
    """An event only an operator may sign; ``operator`` names which."""

    operator: Slug

    def signers(self) -> tuple[str, ...]:
        return (self.operator,)


# --- accounts and keys -----------------------------------------------------------------------


class Jurisdiction(Model):
    """Where a city is: ISO 3166-1 country, ISO 3166-2 subdivision and a municipality code (EU LAU)."""

    country: CountryCode
    subdivision: SubdivisionCode
    municipality: Annotated[str, Field(pattern="^[A-Za-z0-9]{1,12}$")]

    @model_validator(mode="after")
    def _subdivision_in_country(self) -> Jurisdiction:
        if not self.subdivision.startswith(self.country + "-"):
            raise ValueError(f"subdivision: {self.subdivision} is not in country {self.country}")
        return self


class Boundary(Model):
    """A city's boundary: a GeoJSON document referenced by digest (DESIGN.md §3: never inlined)."""

    geojson_sha256: Sha256
    description: Text


class AccountOpened(OperatorEvent):
    """``account``: the operator opens an account with a role and binds its first keys."""

    type: Literal["account"]
    account: Slug
    role: RoleName
    name: Text
    keys: Annotated[list[PublicKey], Field(min_length=1, max_length=8)]
    jurisdiction: Jurisdiction | None = None
    boundary: Boundary | None = None

    @model_validator(mode="after")
    def _city_has_jurisdiction(self) -> AccountOpened:
        if self.role == Role.CITY and (self.jurisdiction is None or self.boundary is None):
            missing = "jurisdiction" if self.jurisdiction is None else "boundary"
            raise ValueError(f"{missing}: a city account must carry its jurisdiction and its boundary")
        if self.role != Role.CITY and (self.jurisdiction is not None or self.boundary is not None):
            extra = "jurisdiction" if self.jurisdiction is not None else "boundary"
            raise ValueError(f"{extra}: only city accounts carry a jurisdiction and a boundary")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("keys: lists the same key twice")
        return self


class KeyBound(OperatorEvent):
    """``key-binding``: the operator binds another key to an account."""

    type: Literal["key-binding"]
    account: Slug
    key: PublicKey


class KeyRotated(OperatorEvent):
    """``key-rotation``: the operator binds a new key and revokes an old one, atomically."""

    type: Literal["key-rotation"]
    account: Slug
    revoke: KeyId
    key: PublicKey


class KeyRevoked(OperatorEvent):
    """``key-revocation``: the operator revokes a key; signatures by it are refused from now on."""

    type: Literal["key-revocation"]
    account: Slug
    revoke: KeyId
    reason: Text


# --- projects and issuance -------------------------------------------------------------------


class Location(Model):
    """Where the removal happens."""

    country: CountryCode
    subdivision: SubdivisionCode | None = None
    municipality: Annotated[str, Field(pattern="^[A-Za-z0-9]{1,12}$")] | None = None
    latitude: Annotated[Decimal, AfterValidator(_latitude)] | None = None
    longitude: Annotated[Decimal, AfterValidator(_longitude)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Location:
        if self.subdivision is not None and not self.subdivision.startswith(self.country + "-"):
            raise ValueError(f"subdivision: {self.subdivision} is not in country {self.country}")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude: latitude and longitude come together")
        return self


class ProjectRegistered(Event):
    """``project``: a supplier registers a project that will issue units."""

    type: Literal["project"]
    project: Slug
    supplier: Slug
    name: Text
    method: MethodName
    unit_type: UnitTypeName
    location: Location
    methodology: Text
    scheme: Text
    external_ids: ExternalIds = Field(default_factory=list)
    """Identifiers of the same project in other registries, such as "VCS 1340"."""

    def signers(self) -> tuple[str, ...]:
        return (self.supplier,)


class Period(Model):
    """A closed date range."""

    start: Date
    end: Date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        return self


class Issued(Event):
    """``issuance``: the supplier issues verified units, co-signed by an accredited verifier."""

    type: Literal["issuance"]
    project: Slug
    supplier: Slug
    verifier: Slug
    monitoring_period: Period
    vintage: Year
    quantity: Quantity
    buffer: Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
    durability_years: Annotated[int, Field(ge=1, le=100_000)]
    expires: Date | None = None
    report_sha256: Sha256
    corresponding_adjustment: bool | None = None
    """Whether the host country applies a corresponding adjustment for these units (Paris
    Agreement Art. 6.2): without one, a city outside the host country's inventory may only claim
    non-CRCF units as a contribution, not as compensation (registry.balance)."""

    @model_validator(mode="after")
    def _consistent(self) -> Issued:
        if self.buffer >= self.quantity:
            raise ValueError(f"buffer: {self.buffer} must be less than quantity {self.quantity}")
        period = self.monitoring_period
        if not period.start.year <= self.vintage <= period.end.year:
            raise ValueError(f"vintage: {self.vintage} is outside the monitoring period {period.start}..{period.end}")
        if self.expires is not None and self.expires <= period.end:
            raise ValueError(f"expires: {self.expires} must be after the monitoring period ends ({period.end})")
        return self

    def signers(self) -> tuple[str, ...]:
        return (self.supplier, self.verifier)


# --- moving units ----------------------------------------------------------------------------


class Movement(Event):
    """Fields of a transfer and a sale: the holder moves units (all or part of a block)."""

    sender: Slug = Field(alias="from")
    to: Slug
    serial: Serial

    @model_validator(mode="after")
    def _distinct(self) -> Movement:
        if self.sender == self.to:
            raise ValueError("to: from and to are the same account")
        return self

    def signers(self) -> tuple[str, ...]:
        return (self.sender,)


class Transferred(Movement):
    """``transfer``: the holder moves units to another account."""

    type: Literal["transfer"]


class Price(Model):
    """A total price as a decimal string in an ISO 4217 currency."""

    amount: Annotated[str, Field(pattern=r"^(0|[1-9][0-9]{0,15})(\.[0-9]{1,4})?$")]
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$")]


class Sold(Movement):
    """``sale``: a transfer with commercial terms, public or committed to by a salted SHA-256."""

    type: Literal["sale"]
    price: Price | None = None
    terms_sha256: Sha256 | None = None
    """SHA-256 of the canonical JSON ``{"currency", "price", "salt"}`` held by both parties."""

    @model_validator(mode="after")
    def _terms(self) -> Sold:
        if (self.price is None) == (self.terms_sha256 is None):
            raise ValueError("price: a sale carries either price or terms_sha256, not both and not neither")
        return self


class Beneficiary(Model):
    """On whose behalf units are retired: an account of this registry or a named entity."""

    account: Slug | None = None
    name: Text | None = None

    @model_validator(mode="after")
    def _one(self) -> Beneficiary:
        if (self.account is None) == (self.name is None):
            raise ValueError("account: a beneficiary is either an account or a name")
        return self


class ClaimPeriod(Model):
    """The period a retirement may be claimed for: a calendar year or a date range."""

    year: Year | None = None
    start: Date | None = None
    end: Date | None = None

    @model_validator(mode="after")
    def _shape(self) -> ClaimPeriod:
        if self.year is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("year: a claim period is a year or a start and end, not both")
        elif self.start is None or self.end is None:
            raise ValueError("year: a claim period needs a year, or both start and end")
        elif self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        return self

    @property
    def bounds(self) -> tuple[dt.date, dt.date]:
        if self.year is not None:
            return dt.date(self.year, 1, 1), dt.date(self.year, 12, 31)
        assert self.start is not None and self.end is not None  # checked above
        return self.start, self.end


class Retired(Event):
    """``retirement``: the holder retires units for a beneficiary, a purpose, a period, a jurisdiction."""

    type: Literal["retirement"]
    holder: Slug
    serial: Serial
    beneficiary: Beneficiary
    purpose: Text
    period: ClaimPeriod
    jurisdiction: Annotated[str, Field(pattern="^[A-Z]{2}(-[A-Z0-9]{1,3})?(-[A-Za-z0-9]{1,12})?$")]
    """ISO 3166-1 country, ISO 3166-2 subdivision, or subdivision and municipality code."""

    def signers(self) -> tuple[str, ...]:
        return (self.holder,)


class Destination(Model):
    """Where exported units go."""

    registry: Text
    account: Text | None = None


class Cancelled(OperatorEvent):
    """``cancellation``: the operator cancels units.

    A ``reversal`` names the project and the tonnes lost; they are drawn from the project's
    buffer pool first, then from the held units in ``serial``. Other reasons cancel exactly
    the units in ``serial``; an ``export`` names its destination.
    """

    type: Literal["cancellation"]
    reason: ReasonName
    project: Slug | None = None
    quantity: Quantity | None = None
    serial: Serial | None = None
    destination: Destination | None = None
    note: Text

    @model_validator(mode="after")
    def _shape(self) -> Cancelled:
        if self.reason == CancellationReason.REVERSAL:
            if self.project is None or self.quantity is None:
                raise ValueError("quantity: a reversal names the project and the quantity lost")
            if self.serial is not None and self.serial.project != self.project:
                raise ValueError(f"serial: {self.serial} is not of project {self.project}")
        elif self.serial is None or self.project is not None or self.quantity is not None:
            raise ValueError(f"serial: a {self.reason} cancellation names the serial range only")
        if (self.reason == CancellationReason.EXPORT) != (self.destination is not None):
            raise ValueError("destination: an export, and only an export, names its destination")
        return self


class Claimed(Event):
    """``claim``: a city claims retired units against its balance for a reporting year (DESIGN.md §4)."""

    type: Literal["claim"]
    city: Slug
    retirement: Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
    """The log index of the retirement whose units are claimed."""
    serial: Serial
    """The units claimed: all of the retirement's, or part of them."""
    year: Year

    def signers(self) -> tuple[str, ...]:
        return (self.city,)


# --- city accounting --------------------------------------------------------------------------

Tonnes = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


class EmissionLine(Model):
    """Emissions of one GPC sector and scope (GHG Protocol for Cities, GPC), in whole t CO2e.

    A line carries either ``tonnes`` or a GPC notation key saying why it has none: NO (not
    occurring), IE (included elsewhere), NE (not estimated), C (confidential).
    """

    sector: Annotated[GpcSector, Field(strict=False)]
    subsector: Text | None = None
    scope: Annotated[int, Field(ge=1, le=3)]  # strict: JSON true is not scope 1
    tonnes: Tonnes | None = None
    notation: Literal["NO", "IE", "NE", "C"] | None = None

    @model_validator(mode="after")
    def _one(self) -> EmissionLine:
        if (self.tonnes is None) == (self.notation is None):
            raise ValueError("tonnes: a line carries tonnes or a notation key (NO, IE, NE, C), not both")
        return self


class RemovalLine(Model):
    """Removals inside the city's boundary, by method and durability; ``project`` links the
    project of this registry that also credits them (so the same tonne is not counted twice)."""

    method: MethodName
    durability: Literal["permanent", "temporary"]
    tonnes: Quantity
    project: Slug | None = None
    description: Text | None = None


class Inventoried(Event):
    """``inventory``: a city's emissions and in-boundary removals for a reporting year.

    ``period`` defaults to the calendar year; a city reporting by fiscal year gives the dates
    (the reporting year is the year the period ends in). A revised inventory names the one it
    replaces in ``revises``.
    """

    type: Literal["inventory"]
    city: Slug
    year: Year
    period: Period | None = None
    base_year: bool
    gwp: Annotated[str, Field(pattern="^(SAR|AR4|AR5|AR6)$")]
    """The IPCC assessment report whose 100-year warming potentials convert gases to CO2e."""
    emissions: Annotated[list[EmissionLine], Field(min_length=1, max_length=500)]
    removals: Annotated[list[RemovalLine], Field(max_length=500)] = Field(default_factory=list)
    revises: Annotated[int, Field(ge=0, le=MAX_QUANTITY)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Inventoried:
        if self.period is not None and self.period.end.year != self.year:
            raise ValueError(f"period: ends in {self.period.end.year}, not in the reporting year {self.year}")
        if self.period is not None and (self.period.end - self.period.start).days + 1 not in (365, 366):
            raise ValueError("period: a reporting period is one year: 365 or 366 days, both ends included")
        seen: set[tuple[str, str | None, int]] = set()
        for n, line in enumerate(self.emissions):
            key = (line.sector.value, line.subsector, line.scope)
            if key in seen:
                raise ValueError(f"emissions: line {n} repeats sector {key[0]}, subsector {key[1]}, scope {key[2]}")
            seen.add(key)
        return self

    @property
    def bounds(self) -> tuple[dt.date, dt.date]:
        """The reporting period: the given dates, or the calendar year."""
        if self.period is not None:
            return self.period.start, self.period.end
        return dt.date(self.year, 1, 1), dt.date(self.year, 12, 31)

    def signers(self) -> tuple[str, ...]:
        return (self.city,)


class PolicySet(OperatorEvent):
    """``policy``: the operator sets the registry's claim rules from this entry on.

    ``retirement_window_days``: a claim is refused when the retirement was logged more than
    this many days after the reporting period ended; absent, retirements may come at any time.
    """

    type: Literal["policy"]
    retirement_window_days: Annotated[int, Field(ge=0, le=36_500)] | None = None


# --- other registries ----------------------------------------------------------------------------

LongText = Annotated[str, Field(min_length=1, max_length=2000)]
ExternalNumber = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]


class ExternalSerial(Model):
    """A serial range as another registry prints it; ranges compare only within one ``block``."""

    text: LongText
    block: LongText
    first: ExternalNumber
    last: ExternalNumber

    @model_validator(mode="after")
    def _ordered(self) -> ExternalSerial:
        if self.last < self.first:
            raise ValueError(f"last: {self.last} is below first {self.first}")
        return self


RowNumber = Annotated[int, Field(ge=1, le=2**31 - 1)]


class ExternalRow(Model):
    """One row of another registry's export, normalised (registry.external.records)."""

    kind: Literal["project", "issuance", "retirement", "cancellation"]
    row: RowNumber
    project: Annotated[str, Field(min_length=1, max_length=100)]
    project_name: LongText | None = None
    country: CountryCode | None = None
    method: LongText | None = None
    removal_method: MethodName | None = None
    unit_class: Literal["removal", "reduction", "avoidance"] | None = None
    quantity: ExternalNumber | None = None
    vintage: Year | None = None
    period_start: Date | None = None
    period_end: Date | None = None
    date: Date | None = None
    serial: ExternalSerial | None = None
    beneficiary: LongText | None = None

    @model_validator(mode="after")
    def _period(self) -> ExternalRow:
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("period_end: period_start and period_end come together")
        if self.period_start is not None and self.period_end is not None and self.period_end < self.period_start:
            raise ValueError(f"period_end: {self.period_end} is before period_start {self.period_start}")
        return self


class ExternalProblem(Model):
    """A row that could not be used as published, and why."""

    row: RowNumber
    field: Annotated[str, Field(min_length=1, max_length=100)]
    reason: LongText


class Imported(OperatorEvent):
    """``import``: the operator records (part of) another registry's public export, by its SHA-256.

    The rows are carried normalised, so the log alone rebuilds them and every finding they
    raise; anyone holding the file can check them against its digest. A large export is
    split into ``parts`` events, numbered from 1.
    """

    type: Literal["import"]
    source: Literal["verra", "gold-standard", "american-carbon-registry", "climate-action-reserve", "isometric"]
    """The registry whose export this is (registry.external.SOURCES)."""
    file_name: Text
    file_sha256: Sha256
    file_kind: Slug
    rows: Annotated[int, Field(ge=0, le=2**31 - 1)]
    part: Annotated[int, Field(ge=1)]
    parts: Annotated[int, Field(ge=1, le=100_000)]
    records: Annotated[list[ExternalRow], Field(max_length=2000)]
    problems: Annotated[list[ExternalProblem], Field(max_length=2000)]

    @model_validator(mode="after")
    def _consistent(self) -> Imported:
        if self.part > self.parts:
            raise ValueError(f"part: {self.part} is beyond parts {self.parts}")
        seen: set[int] = set()
        for n, record in enumerate(self.records):
            if record.row > self.rows:
                raise ValueError(f"records: row {record.row} (record {n}) is beyond the file's {self.rows} rows")
            if record.row in seen:
                raise ValueError(f"records: row {record.row} appears twice (record {n})")
            seen.add(record.row)
        for n, problem in enumerate(self.problems):
            if problem.row > self.rows:
                raise ValueError(f"problems: row {problem.row} (problem {n}) is beyond the file's {self.rows} rows")
        return self


AnyEvent = (
    AccountOpened | KeyBound | KeyRotated | KeyRevoked | ProjectRegistered | Issued | Transferred | Sold | Retired
) | (Cancelled | Imported | Claimed | Inventoried | PolicySet)
_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(Annotated[AnyEvent, Field(discriminator="type")])
EVENT_TYPES = (
    "account",
    "key-binding",
    "key-rotation",
    "key-revocation",
    "project",
    "issuance",
    "transfer",
    "sale",
    "retirement",
    "cancellation",
    "import",
    "claim",
    "inventory",
    "policy",
)


def parse_event(payload: bytes) -> AnyEvent:
    """Parse an event payload; raise :class:`InvalidEventError` naming the first bad field.

    The payload must be RFC 8785 canonical JSON (DESIGN.md §3) of an object with a known ``type``.
    """
    return validate_event(decode_payload(payload))


def decode_payload(payload: bytes) -> dict[str, Any]:
    """The JSON object of an event payload, which must be canonical and name a known ``type``."""
    try:
        value = canonical.decode(payload)
    except CanonicalJSONError as exc:
        raise InvalidEventError("payload", str(exc)) from exc
    if not isinstance(value, dict):
        raise InvalidEventError("payload", "an event must be a JSON object")
    if value.get("type") not in EVENT_TYPES:
        raise InvalidEventError("type", f"must be one of {', '.join(EVENT_TYPES)}; got {value.get('type')!r}")
    return value


def validate_event(value: dict[str, Any]) -> AnyEvent:
    """The event model of a decoded payload; raise :class:`InvalidEventError` naming the first bad field."""
    try:
        return _ADAPTER.validate_python(value)
    except ValidationError as exc:
        errors = [_describe(error) for error in exc.errors()]
        raise InvalidEventError(errors[0]["field"], errors[0]["message"], errors) from None


_NAMED = re.compile(r"([a-z_]+): (.*)", re.DOTALL)


def _describe(error: Any) -> dict[str, str]:
    # The discriminator's own name (e.g. "transfer") leads every location; drop it.
    location = [str(part) for part in error.get("loc", ())][1:]
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    # A check across fields (a model validator) names the field it blames as "field: message".
    named = _NAMED.fullmatch(message) if error.get("type") == "value_error" else None
    if named is not None:
        location.append(named.group(1))
        message = named.group(2)
    return {"field": ".".join(location) or "payload", "message": message}


def to_payload(event: AnyEvent) -> bytes:
    """Return the canonical JSON payload of ``event`` (the inverse of :func:`parse_event`)."""
    return canonical.encode(event.model_dump(mode="json", by_alias=True, exclude_none=True))
