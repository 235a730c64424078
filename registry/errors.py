"""Errors raised by the registry domain.

Every error has a stable ``code`` (the API turns it into the problem ``type``) and carries
the facts a caller needs as attributes::

    RegistryError
    ├── InvalidEventError        a field of an event is missing, malformed or out of range
    ├── WrongRegistryError       the event names another registry (a replayed envelope)
    ├── UnauthorisedError        a signature is missing, by a revoked or unknown key, or unexpected
    ├── UnknownError             an event names an account, project or batch that does not exist
    ├── RuleError                the event breaks a domain rule (role, buffer, shortfall, …)
    ├── RecordNotFoundError      a read asked for something that does not exist
    ├── ReplayError              a log entry cannot be applied on replay: state cannot be rebuilt
    ├── StateMismatchError       the state tables differ from what the log replays to
    ├── StatementError           a signed net-emissions statement does not verify (registry.attestation)
    ├── WriterUnavailableError   the writer is closed, or its process cannot be reached (registry.writer)
    └── ConflictError            the event conflicts with current state
        ├── NotHolderError       the units are held by someone else (or were moved meanwhile)
        ├── UnitsRetiredError    the units were retired: they never move again
        ├── UnitsCancelledError  the units were cancelled: they never move again
        ├── AlreadyExistsError   an account, key or project id is taken
        ├── IdempotencyConflictError  the event id was used for a different event
        ├── BlockedByFindingsError    blocking double-counting findings touch the units
        ├── AlreadyClaimedError  some of the units were claimed before (double claiming)
        └── InventoryExistsError the city already has an inventory for the year (revise it)
    RuleError subclasses for claims: NotBeneficiaryError, NotRemovalError, UnitsExpiredError,
    WrongPeriodError, SoldUnitsError, LateRetirementError, CountedInInventoryError; and for
    inventories: ClaimedAsCreditError
"""

from __future__ import annotations

from ledger.errors import RebuildableError


class RegistryError(RebuildableError):
    """Root of every error raised by :mod:`registry`."""

    code = "registry-error"


class InvalidEventError(RegistryError):
    """An event field is missing, malformed or out of range; ``field`` names it."""

    code = "invalid-event"

    def __init__(self, field: str, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.errors = errors or [{"field": field, "message": message}]


class WrongRegistryError(RegistryError):
    """The event was signed for another registry's log."""

    code = "wrong-registry"
    field = "registry"

    def __init__(self, named: str, origin: str) -> None:
        super().__init__(f"registry: the event is for {named!r}; this registry is {origin!r}")
        self.named = named
        self.origin = origin


class UnauthorisedError(RegistryError):
    """The event's signatures do not give the authority it needs."""

    code = "unauthorised"
    field = "signatures"


class UnknownError(RegistryError):
    """An event names a record that does not exist; ``field`` names the field."""

    code = "unknown-reference"

    def __init__(self, field: str, kind: str, name: object) -> None:
        super().__init__(f"{field}: no {kind} {name!r}")
        self.field = field
        self.kind = kind
        self.name = name


class RuleError(RegistryError):
    """The event breaks a rule of the registry; ``field`` names the field at fault."""

    code = "rule-violation"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RecordNotFoundError(RegistryError):
    """A read named a record that does not exist; ``record`` says which kind (``account``, ``batch``…).

    Its ``code`` is ``<record>-not-found``, so a client can tell a missing account from a
    missing batch without parsing the message.
    """

    code = "not-found"

    def __init__(self, message: str, record: str) -> None:
        super().__init__(message)
        self.record = record
        self.code = f"{record}-not-found"


class RangeTooWideError(RegistryError):
    """A read covers more than one request may; ``limit`` is the most it may cover."""

    code = "range-too-wide"

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class ConflictError(RegistryError):
    """The event conflicts with the registry's current state; retrying it will not help."""

    code = "conflict"


class NotHolderError(ConflictError):
    """Some of the units are not held by the account that tried to move them."""

    code = "not-holder"
    field = "serial"

    def __init__(self, serials: str, account: str, holder: str | None, since: int) -> None:
        held_by = f"held by {holder!r}" if holder else "in the buffer pool"
        super().__init__(f"serials {serials} are not held by {account!r}: they are {held_by} since log index {since}")
        self.serials = serials
        self.account = account
        self.holder = holder
        self.since = since


class UnitsRetiredError(ConflictError):
    """Some of the units were retired, which is irreversible."""

    code = "units-retired"
    field = "serial"

    def __init__(self, serials: str, since: int) -> None:
        super().__init__(f"serials {serials} were retired at log index {since} and can never move again")
        self.serials = serials
        self.since = since


class UnitsCancelledError(ConflictError):
    """Some of the units were cancelled."""

    code = "units-cancelled"
    field = "serial"

    def __init__(self, serials: str, since: int) -> None:
        super().__init__(f"serials {serials} were cancelled at log index {since} and can never move again")
        self.serials = serials
        self.since = since


class AlreadyExistsError(ConflictError):
    """An account, key or project identifier is already taken."""

    code = "already-exists"

    def __init__(self, field: str, kind: str, name: str, index: int) -> None:
        super().__init__(f"{field}: {kind} {name!r} already exists (log index {index})")
        self.field = field
        self.kind = kind
        self.name = name
        self.index = index


class IdempotencyConflictError(ConflictError):
    """The event's idempotency id was already used for a different event."""

    code = "idempotency-conflict"
    field = "id"

    def __init__(self, event_id: str, index: int) -> None:
        super().__init__(f"id: {event_id!r} was already used by a different event (log index {index})")
        self.event_id = event_id
        self.index = index


class BlockedByFindingsError(ConflictError):
    """Units may not be claimed: blocking double-counting findings touch them (registry.findings)."""

    code = "blocked-by-findings"
    field = "serial"

    def __init__(self, serials: str, findings: list[dict[str, object]]) -> None:
        kinds = ", ".join(sorted({str(f["kind"]) for f in findings}))
        super().__init__(f"serials {serials} are touched by {len(findings)} blocking finding(s): {kinds}")
        self.serials = serials
        self.findings = findings


class AlreadyClaimedError(ConflictError):
    """Some of the units were already claimed, by this city or another: a tonne is claimed once."""

    code = "already-claimed"
    field = "serial"

    def __init__(self, serials: str, account: str, index: int) -> None:
        super().__init__(f"serials {serials} were claimed by {account!r} at log index {index}")
        self.serials = serials
        self.account = account
        self.index = index


class NotBeneficiaryError(RuleError):
    """The claiming city is not the beneficiary of the retirement."""

    code = "not-beneficiary"


class NotRemovalError(RuleError):
    """The units are not removals (avoidance, reduction, CRCF soil emission reduction)."""

    code = "not-a-removal"


class UnitsExpiredError(RuleError):
    """Temporary units expired before the end of the reporting year."""

    code = "units-expired"


class WrongPeriodError(RuleError):
    """The retirement was made for a period that does not include the reporting year."""

    code = "wrong-period"


class SoldUnitsError(RuleError):
    """The city sold these units earlier: it cannot also claim them."""

    code = "sold-by-claimant"


class LateRetirementError(RuleError):
    """The retirement was logged later than the registry's policy allows after the reporting period."""

    code = "retired-too-late"

    def __init__(self, field: str, message: str, index: int) -> None:
        super().__init__(field, message)
        self.index = index  # the log index of the retirement


class CountedInInventoryError(RuleError):
    """The units were issued for a removal the city also counts in its own inventory."""

    code = "counted-in-inventory"

    def __init__(self, field: str, message: str, index: int) -> None:
        super().__init__(field, message)
        self.index = index  # the log index of the inventory (or the claim) it collides with


class ClaimedAsCreditError(RuleError):
    """An inventory counts a removal whose credits the city has already claimed."""

    code = "claimed-as-credit"

    def __init__(self, field: str, message: str, index: int) -> None:
        super().__init__(field, message)
        self.index = index  # the log index of the inventory (or the claim) it collides with


class InventoryExistsError(ConflictError):
    """The city already has an inventory for the year; a new one must name it in ``revises``."""

    code = "inventory-exists"
    field = "revises"

    def __init__(self, city: str, year: int, index: int) -> None:
        super().__init__(f"revises: {city!r} has an inventory for {year} at log index {index}; name it to revise it")
        self.city = city
        self.year = year
        self.index = index


class ReplayError(RegistryError):
    """An entry of the log could not be applied when replaying it: the state cannot be rebuilt."""

    code = "replay-failed"

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index}: {reason}")
        self.index = index
        self.reason = reason


class StateMismatchError(RegistryError):
    """The registry's state tables differ from the state its log replays to."""

    code = "state-mismatch"

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(f"table {table}: {detail}")
        self.table = table
        self.detail = detail


class StatementError(RegistryError):
    """A signed net-emissions statement cannot be made, or does not verify (registry.attestation).

    ``step`` names the check that failed (bundle, checkpoint, note, entries, figures) and
    ``index`` the log entry at fault, when there is one.
    """

    code = "statement-invalid"

    def __init__(self, step: str, message: str, index: int | None = None) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
        self.index = index


class WriterUnavailableError(RegistryError):
    """The registry's writer cannot take the event: it is closed or closing, or its process
    (registry.writer) cannot be reached or went away before it answered.

    The event may or may not have been accepted: resubmitting it is safe (an accepted event
    answers with its original index).
    """

    code = "writer-unavailable"
