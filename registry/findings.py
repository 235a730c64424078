"""Double-counting findings: what was found, how serious it is, the units it touches, the evidence.

The three kinds of double counting that the Paris Agreement, CORSIA and the ICVCM name
(DESIGN.md §4, "Double counting") are found here as the log is applied, so a finding is part
of the state that the log rebuilds (and ``registry audit`` re-derives):

=========================  ========  ==============================================================
kind                       severity  found when
=========================  ========  ==============================================================
overlapping-issuance       blocking  a project is issued twice for overlapping monitoring periods
issued-elsewhere           blocking  another registry issued units of the project (by an id it
                                     declares) for an overlapping period
possibly-issued-elsewhere  warning   another registry issued a project of the same country and
                                     method for an overlapping period, which it does not declare
external-serial-overlap    warning   two rows of other registries' exports issue, or use, the same
                                     serials
retired-twice              blocking  an entry retires units that were already retired
moved-after-retirement     blocking  an entry moves or cancels retired units
used-after-cancellation    blocking  an entry moves or retires cancelled units
retired-after-transfer     blocking  an account retires units it had transferred away
retired-by-non-holder      blocking  an account retires units it never held
moved-by-non-holder        blocking  an account moves units it does not hold
claimed-twice              blocking  an entry claims units already claimed (by any city)
claimed-by-non-beneficiary blocking  a city claims a retirement made for someone else
non-removal-claimed        blocking  avoidance, reduction or soil-emission-reduction units claimed
expired-units-claimed      blocking  temporary units claimed for a year they do not last through
claimed-for-another-period blocking  a retirement claimed for a year it was not retired for
sold-units-claimed         blocking  a city claims units it sold
removal-counted-twice      blocking  a city claims credits for a removal its own inventory counts,
                                     or counts a removal whose credits it claimed
late-retirement-claimed    blocking  a claim on a retirement logged later than the policy allows
sold-counted-removal       warning   credits from a removal a city counts are sold, or retired for
                                     someone else (its statement adds them to its positive side)
void-entry                 blocking  any other entry the rules refuse (a bad signature, say)
duplicate-entry            warning   an event is logged a second time
=========================  ========  ==============================================================

Double use cannot enter the log through the registry (its handlers refuse it), but the log is
evidence in its own right: an entry appended around the registry, by a faulty or dishonest
writer, is *void* — it changes no state — and replaying it raises the finding instead.
Double claiming is refused when a city claims (registry.claims); a claim entry that breaks
those rules is void like any other, and named by the kind of double claiming it attempts.

A *blocking* finding refuses every claim on the units it touches (registry.eligibility).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger import canonical
from registry import serials
from registry.errors import (
    AlreadyClaimedError,
    AlreadyExistsError,
    ClaimedAsCreditError,
    CountedInInventoryError,
    IdempotencyConflictError,
    LateRetirementError,
    NotBeneficiaryError,
    NotHolderError,
    NotRemovalError,
    SoldUnitsError,
    UnitsCancelledError,
    UnitsExpiredError,
    UnitsRetiredError,
    WrongPeriodError,
)
from registry.events import AnyEvent, Cancelled, Claimed, Retired, Sold, Transferred
from registry.schema import batches, external_records, finding_units, findings, movements, projects
from registry.working import WorkingState


class Severity(StrEnum):
    BLOCKING = "blocking"  # claims on the units are refused
    WARNING = "warning"  # reported, for a person to judge


class Kind(StrEnum):
    OVERLAPPING_ISSUANCE = "overlapping-issuance"
    ISSUED_ELSEWHERE = "issued-elsewhere"
    POSSIBLY_ISSUED_ELSEWHERE = "possibly-issued-elsewhere"
    EXTERNAL_SERIAL_OVERLAP = "external-serial-overlap"
    RETIRED_TWICE = "retired-twice"
    MOVED_AFTER_RETIREMENT = "moved-after-retirement"
    USED_AFTER_CANCELLATION = "used-after-cancellation"
    RETIRED_AFTER_TRANSFER = "retired-after-transfer"
    RETIRED_BY_NON_HOLDER = "retired-by-non-holder"
    MOVED_BY_NON_HOLDER = "moved-by-non-holder"
    CLAIMED_TWICE = "claimed-twice"
    CLAIMED_BY_NON_BENEFICIARY = "claimed-by-non-beneficiary"
    NON_REMOVAL_CLAIMED = "non-removal-claimed"
    EXPIRED_UNITS_CLAIMED = "expired-units-claimed"
    CLAIMED_FOR_ANOTHER_PERIOD = "claimed-for-another-period"
    SOLD_UNITS_CLAIMED = "sold-units-claimed"
    REMOVAL_COUNTED_TWICE = "removal-counted-twice"
    LATE_RETIREMENT_CLAIMED = "late-retirement-claimed"
    SOLD_COUNTED_REMOVAL = "sold-counted-removal"
    VOID_ENTRY = "void-entry"
    DUPLICATE_ENTRY = "duplicate-entry"

    @property
    def severity(self) -> Severity:
        warnings = (
            Kind.POSSIBLY_ISSUED_ELSEWHERE,
            Kind.EXTERNAL_SERIAL_OVERLAP,
            Kind.DUPLICATE_ENTRY,
            Kind.SOLD_COUNTED_REMOVAL,
        )
        return Severity.WARNING if self in warnings else Severity.BLOCKING

    @property
    def voids(self) -> bool:
        """Whether findings of this kind name an entry the rules refuse: one the registry never writes."""
        return self not in _DOUBLE_ISSUANCE and self not in (Kind.DUPLICATE_ENTRY, Kind.SOLD_COUNTED_REMOVAL)


_UNITS = ("issuance", "retirement", "cancellation")
"""External rows that show units issued (a retirement or a cancellation shows they were issued too)."""

_DOUBLE_ISSUANCE = frozenset(
    {Kind.OVERLAPPING_ISSUANCE, Kind.ISSUED_ELSEWHERE, Kind.POSSIBLY_ISSUED_ELSEWHERE, Kind.EXTERNAL_SERIAL_OVERLAP}
)


@dataclass(frozen=True)
class Units:
    """Units ``first``..``last`` of serial batch ``batch``."""

    batch: int
    first: int
    last: int


@dataclass(frozen=True)
class Finding:
    """One finding, as recorded by the entry at log index ``idx``."""

    idx: int
    seq: int
    kind: Kind
    severity: Severity
    message: str
    evidence: tuple[int, ...]
    """The log indices that prove it, ascending: fetch their inclusion proofs to check."""
    units: tuple[Units, ...]
    project: str | None
    account: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": f"{self.idx}.{self.seq}",
            "kind": self.kind.value,
            "severity": self.severity.value,
            "message": self.message,
            "evidence": list(self.evidence),
            "units": [{"batch": u.batch, "first": u.first, "last": u.last} for u in self.units],
            "project": self.project,
            "account": self.account,
            "detail": self.detail,
        }


def record(
    conn: Connection,
    at: int,
    kind: Kind,
    message: str,
    *,
    evidence: Iterable[int],
    units: Sequence[Units] = (),
    project: str | None = None,
    account: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a finding raised by the entry at log index ``at`` (written at once, in its transaction)."""
    seq = conn.execute(sa.select(sa.func.count()).select_from(findings).where(findings.c.idx == at)).scalar_one()
    row, unit_rows = rows(
        at, seq, kind, message, evidence=evidence, units=units, project=project, account=account, detail=detail
    )
    conn.execute(findings.insert().values(**row))
    if unit_rows:
        conn.execute(finding_units.insert(), unit_rows)


def rows(
    at: int,
    seq: int,
    kind: Kind,
    message: str,
    *,
    evidence: Iterable[int],
    units: Sequence[Units] = (),
    project: str | None = None,
    account: str | None = None,
    detail: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The reg_findings row and reg_finding_units rows of the ``seq``-th finding raised by entry ``at``."""
    row = {
        "idx": at,
        "seq": seq,
        "kind": kind.value,
        "severity": kind.severity.value,
        "message": message,
        "evidence": " ".join(str(i) for i in sorted({*evidence, at})),
        "project": project,
        "account": account,
        "detail": canonical.encode(detail or {}).decode(),
    }
    unit_rows = [
        {"idx": at, "seq": seq, "part": n, "batch": u.batch, "first": u.first, "last": u.last}
        for n, u in enumerate(units)
    ]
    return row, unit_rows


# --- double issuance ---------------------------------------------------------------------------


def check_issuance(conn: Connection, number: int, at: int) -> None:
    """Find what the new batch ``number`` (issued at ``at``) double-issues: here, or in another registry."""
    batch = conn.execute(sa.select(batches).where(batches.c.number == number)).one()
    project = conn.execute(sa.select(projects).where(projects.c.id == batch.project)).one()
    earlier = conn.execute(
        sa.select(batches)
        .where(
            batches.c.project == batch.project,
            batches.c.number != number,
            batches.c.monitoring_start <= batch.monitoring_end,
            batches.c.monitoring_end >= batch.monitoring_start,
        )
        .order_by(batches.c.number)
    )
    for other in earlier:
        record(
            conn,
            at,
            Kind.OVERLAPPING_ISSUANCE,
            f"batch {number} of project {batch.project!r} covers {_period(batch)}, which overlaps batch "
            f"{other.number} ({_period(other)}, issued at entry {other.issued_at}): the same removals issued twice",
            evidence=(other.issued_at,),
            units=[Units(number, batch.first, batch.last)],
            project=batch.project,
            account=batch.supplier,
            detail={"batches": [other.number, number]},
        )
    for external in conn.execute(
        sa.select(external_records)
        .where(
            external_records.c.kind.in_(_UNITS),
            sa.or_(
                external_records.c.project_key.in_(declared_ids(project)),
                sa.and_(
                    external_records.c.country == project.country,
                    external_records.c.removal_method == project.method,
                ),
            ),
        )
        .order_by(external_records.c.idx, external_records.c.row)  # the findings' order is state
    ):
        _cross_check(conn, at, batch, project, external)


def check_imported(conn: Connection, file_sha256: str, at: int) -> None:
    """Find what the rows imported by the entry at ``at`` double-issue or double-use."""
    imported = conn.execute(
        sa.select(external_records)
        .where(external_records.c.file_sha256 == file_sha256, external_records.c.idx == at)
        .order_by(external_records.c.row)
    ).all()
    by_id: dict[str, list[Row[Any]]] = {}
    for project in conn.execute(sa.select(projects).order_by(projects.c.id)):
        for external_id in declared_ids(project):
            by_id.setdefault(external_id, []).append(project)
    for external in imported:
        if external.kind in _UNITS:
            candidates = by_id.get(external.project_key, []) + list(
                conn.execute(
                    sa.select(projects)
                    .where(projects.c.country == external.country, projects.c.method == external.removal_method)
                    .order_by(projects.c.id)
                )
            )
            seen: set[str] = set()
            for project in candidates:
                if project.id in seen:
                    continue
                seen.add(project.id)
                for batch in conn.execute(
                    sa.select(batches).where(batches.c.project == project.id).order_by(batches.c.number)
                ):
                    _cross_check(conn, at, batch, project, external)
        if external.serial_block is not None:
            _serial_overlaps(conn, at, external)


def declared_ids(project: Row[Any]) -> list[str]:
    """The project's identifiers in other registries, as :func:`project_key` normalises them."""
    return [project_key(str(i)) for i in json.loads(project.external_ids)]


_KEY = re.compile(r"([A-Z]+(?: [A-Z]+)*)[ _#:-]*0*([0-9][0-9A-Z_]*)")
_ALIASES = {"VERRA": "VCS", "VCU": "VCS", "GOLD STANDARD": "GS", "GSID": "GS", "AMERICAN CARBON REGISTRY": "ACR"}


def project_key(text: str) -> str:
    """A project id in one form however it is written: "VCS 1340" for "vcs1340", "VCS-1340", "Verra 1340".

    The registry's prefix (aliases such as Verra → VCS resolved) and its own id without leading
    zeros, separated by one space; text of another shape is only upper-cased and its spaces
    collapsed.
    """
    plain = " ".join(text.upper().split())
    found = _KEY.fullmatch(plain)
    if found is None:
        return plain
    prefix = found.group(1).strip()
    return f"{_ALIASES.get(prefix, prefix)} {found.group(2)}"


def _cross_check(conn: Connection, at: int, batch: Row[Any], project: Row[Any], external: Row[Any]) -> None:
    """Record whether our ``batch`` and another registry's issuance ``external`` issue the same removals."""
    period = _external_period(external)
    if period is None or not (period[0] <= batch.monitoring_end and period[1] >= batch.monitoring_start):
        return
    declared = external.project_key in declared_ids(project)
    same_place = external.country == project.country and external.removal_method == project.method
    if not declared and (not same_place or project.method == "other"):  # "other" says nothing alike
        return
    units = "units" if external.quantity is None else f"{external.quantity:,} units"
    where = f"{external.source} {external.kind} row {external.row} holds {units} of {external.project}"
    if external.serial:
        where += f" (serials {external.serial})"
    if declared:
        kind = Kind.ISSUED_ELSEWHERE
        message = (
            f"{where} for {period[0]}..{period[1]}, which overlaps batch {batch.number} of project "
            f"{project.id!r} ({_period(batch)}); {project.id!r} declares it is that project"
        )
    else:
        kind = Kind.POSSIBLY_ISSUED_ELSEWHERE
        message = (
            f"{where} in {project.country} by {project.method} for {period[0]}..{period[1]}, which overlaps "
            f"batch {batch.number} of project {project.id!r} ({_period(batch)}); the project declares no such id"
        )
    record(
        conn,
        at,
        kind,
        message,
        evidence=(batch.issued_at, external.idx),
        units=[Units(batch.number, batch.first, batch.last)],
        project=project.id,
        account=batch.supplier,
        detail={"batch": batch.number, "external": _reference(external)},
    )


def _serial_overlaps(conn: Connection, at: int, external: Row[Any]) -> None:
    """Record each earlier external row that issues (or uses) serials this row also issues (or uses)."""
    use = ("retirement", "cancellation")
    kinds = use if external.kind in use else (external.kind,)
    others = conn.execute(
        sa.select(external_records)
        .where(
            external_records.c.source == external.source,
            external_records.c.serial_block == external.serial_block,
            external_records.c.serial_first <= external.serial_last,
            external_records.c.serial_last >= external.serial_first,
            external_records.c.kind.in_(kinds),
            # each pair once: against rows imported before this one
            sa.or_(
                external_records.c.idx < at,
                sa.and_(external_records.c.idx == at, external_records.c.row < external.row),
            ),
        )
        .order_by(external_records.c.idx, external_records.c.row)
    )
    for other in others:
        if (other.kind, other.serial, other.quantity, other.date, other.beneficiary) == (
            external.kind,
            external.serial,
            external.quantity,
            external.date,
            external.beneficiary,
        ):
            continue  # the same transaction, published in two files (or twice in one)
        verb = "issue" if external.kind == "issuance" else "use"
        record(
            conn,
            at,
            Kind.EXTERNAL_SERIAL_OVERLAP,
            f"{external.source} rows {other.row} ({other.kind}, {other.serial}) and {external.row} "
            f"({external.kind}, {external.serial}) {verb} the same serials",
            evidence=(other.idx,),
            detail={"rows": [_reference(other), _reference(external)]},
        )


def _external_period(external: Row[Any]) -> tuple[dt.date, dt.date] | None:
    if external.period_start is not None and external.period_end is not None:
        return external.period_start, external.period_end
    if external.vintage is not None:
        return dt.date(external.vintage, 1, 1), dt.date(external.vintage, 12, 31)
    return None


def _period(batch: Row[Any]) -> str:
    return f"{batch.monitoring_start}..{batch.monitoring_end}"


def _reference(external: Row[Any]) -> dict[str, Any]:
    return {
        "source": external.source,
        "file_sha256": external.file_sha256,
        "row": external.row,
        "kind": external.kind,
        "project": external.project,
        "serial": external.serial,
    }


# --- double use: entries the rules refuse --------------------------------------------------------


def record_void(state: WorkingState, at: int, event: AnyEvent | None, error: Exception) -> None:
    """Record that the entry at ``at`` is void: the rules refuse ``event`` for ``error``; it changed nothing.

    Writes the working state's pending rows first, so that the lineage it reads is complete
    (call it between events only, as replay does).
    """
    state.flush()
    conn = state.conn
    units: list[Units] = []
    evidence: tuple[int, ...] = ()
    kind = _void_kind(event, error)
    # Units and an account are named only when the entry was signed with the authority it
    # needed and broke a rule of the units (double use, double claiming): an entry that anyone
    # could have written must not freeze someone else's units, nor blame them.
    account = _actor(event) if kind != Kind.VOID_ENTRY else None
    if isinstance(error, NotHolderError | UnitsRetiredError | UnitsCancelledError):
        piece = serials.parse(error.serials)
        units = [Units(piece.batch, piece.first, piece.last)]
        evidence = (error.since,)
    elif kind != Kind.VOID_ENTRY and isinstance(serial := getattr(event, "serial", None), serials.SerialRange):
        units = [Units(serial.batch, serial.first, serial.last)]
    if isinstance(
        error,
        IdempotencyConflictError
        | AlreadyClaimedError
        | AlreadyExistsError
        | CountedInInventoryError
        | ClaimedAsCreditError,
    ):
        evidence = (error.index,)
    if isinstance(event, Claimed):
        evidence = (*evidence, event.retirement)  # the retirement it claims
    if kind == Kind.RETIRED_BY_NON_HOLDER:
        transfer = _transferred_away(conn, account, units[0], at)
        if transfer is not None:
            kind, evidence = Kind.RETIRED_AFTER_TRANSFER, (transfer, *evidence)
    what = f"entry {at}" + (f" ({event.type} {event.id!r})" if event is not None else "")
    named = {"signer": _actor(event)} if kind == Kind.VOID_ENTRY and event is not None else {}
    record(
        conn,
        at,
        kind,
        f"{what} is void: {error}",
        evidence=evidence,
        units=units,
        project=_project(event),
        account=account,
        detail={"error": getattr(error, "code", type(error).__name__), **named},
    )


def record_duplicate(state: WorkingState, at: int, event: AnyEvent, first: int) -> None:
    """Record that the entry at ``at`` logs again the event accepted at ``first`` (it changes nothing)."""
    record(
        state.conn,
        at,
        Kind.DUPLICATE_ENTRY,
        f"entry {at} logs event {event.id!r} ({event.type}) again; it was accepted at entry {first}",
        evidence=(first,),
        project=_project(event),
        account=_actor(event),
    )


def _void_kind(event: AnyEvent | None, error: Exception) -> Kind:
    claiming = _CLAIMING.get(type(error))
    if claiming is not None:
        return claiming
    retiring = isinstance(event, Retired)
    if isinstance(error, UnitsRetiredError):
        return Kind.RETIRED_TWICE if retiring else Kind.MOVED_AFTER_RETIREMENT
    if isinstance(error, UnitsCancelledError):
        return Kind.USED_AFTER_CANCELLATION
    if isinstance(error, NotHolderError):
        if retiring:
            return Kind.RETIRED_BY_NON_HOLDER  # or after transfer: decided from the lineage
        if isinstance(event, Transferred | Sold | Cancelled):
            return Kind.MOVED_BY_NON_HOLDER
    return Kind.VOID_ENTRY


_CLAIMING: dict[type[Exception], Kind] = {
    AlreadyClaimedError: Kind.CLAIMED_TWICE,
    NotBeneficiaryError: Kind.CLAIMED_BY_NON_BENEFICIARY,
    NotRemovalError: Kind.NON_REMOVAL_CLAIMED,
    UnitsExpiredError: Kind.EXPIRED_UNITS_CLAIMED,
    WrongPeriodError: Kind.CLAIMED_FOR_ANOTHER_PERIOD,
    SoldUnitsError: Kind.SOLD_UNITS_CLAIMED,
    CountedInInventoryError: Kind.REMOVAL_COUNTED_TWICE,
    ClaimedAsCreditError: Kind.REMOVAL_COUNTED_TWICE,
    LateRetirementError: Kind.LATE_RETIREMENT_CLAIMED,
}


def _transferred_away(conn: Connection, account: str | None, units: Units, at: int) -> int | None:
    """The log index at which ``account`` last moved any of ``units`` away, if it ever did."""
    if account is None:
        return None
    found = conn.execute(
        sa.select(sa.func.max(movements.c.idx)).where(
            movements.c.sender == account,
            movements.c.kind.in_(("transfer", "sale")),
            movements.c.batch == units.batch,
            movements.c.first <= units.last,
            movements.c.last >= units.first,
            movements.c.idx < at,
        )
    ).scalar_one()
    return None if found is None else int(found)


def _actor(event: AnyEvent | None) -> str | None:
    if event is None:
        return None
    return event.signers()[0]


def _project(event: AnyEvent | None) -> str | None:
    if event is None:
        return None
    serial = getattr(event, "serial", None)
    if serial is not None:
        return str(serial.project)
    project = getattr(event, "project", None)
    return None if project is None else str(project)


# --- reading ------------------------------------------------------------------------------------


def load(
    conn: Connection,
    *,
    keys: Sequence[tuple[int, int]] | None = None,
    kind: Kind | None = None,
    account: str | None = None,
    project: str | None = None,
    after: tuple[int, int] | None = None,
    limit: int | None = None,
) -> list[Finding]:
    """Findings in log order: those with ``keys`` ((idx, seq) pairs), or filtered, after a cursor."""
    query = sa.select(findings).order_by(findings.c.idx, findings.c.seq)
    if keys is not None:
        query = query.where(sa.tuple_(findings.c.idx, findings.c.seq).in_(list(keys)))
    for column, value in ((findings.c.kind, kind), (findings.c.account, account), (findings.c.project, project)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(sa.tuple_(findings.c.idx, findings.c.seq) > sa.tuple_(*after))
    if limit is not None:
        query = query.limit(limit)
    rows = conn.execute(query).all()
    if not rows:
        return []
    units = conn.execute(
        sa.select(finding_units)
        .where(sa.tuple_(finding_units.c.idx, finding_units.c.seq).in_([(r.idx, r.seq) for r in rows]))
        .order_by(finding_units.c.idx, finding_units.c.seq, finding_units.c.part)
    )
    return read(rows, units)


def read(rows: Iterable[Row[Any]], units: Iterable[Row[Any]]) -> list[Finding]:
    """Findings from their rows and their unit rows (as selected from the two tables)."""
    touched: dict[tuple[int, int], list[Units]] = {}
    for u in units:
        touched.setdefault((u.idx, u.seq), []).append(Units(u.batch, u.first, u.last))
    return [
        Finding(
            idx=row.idx,
            seq=row.seq,
            kind=Kind(row.kind),
            severity=Severity(row.severity),
            message=row.message,
            evidence=tuple(int(i) for i in row.evidence.split()),
            units=tuple(touched.get((row.idx, row.seq), ())),
            project=row.project,
            account=row.account,
            detail=json.loads(row.detail),
        )
        for row in rows
    ]
