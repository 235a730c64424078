"""Signed net-emissions statements, and their verification offline, from the log alone.

A city's statement (:mod:`registry.balance`) is published as a *bundle* that anyone holding
the log's verifier key can check without asking the registry anything more::

    {
      "statement":  the statement, as registry.balance computed it at log size N,
      "note":       a C2SP signed note by the log key, whose text is
                        carbon-registry/net-emissions-statement/v1
                        <origin>
                        <city id>
                        <year>
                        size <N>
                        <base64 RFC 9162 root hash of the tree of size N>
                        sha256 <base64 SHA-256 of the RFC 8785 canonical JSON of the statement>
      "checkpoint": the log's signed checkpoint (C2SP tlog-checkpoint) of size N,
      "entries":    [{"index": i, "entry": <base64 entry>, "proof": [<base64 hash>, …]}, …]
                    for every i of statement["evidence"], in that order, each with its
                    RFC 9162 inclusion proof in the tree of size N
    }

:func:`verify_statement` checks, in this order (each step is marked where it happens):

0. the bundle has that shape;
1. the checkpoint is signed by the log key and names the log's origin;
2. the note is signed by the log key and binds the checkpoint's origin, size and root, the
   statement's city and year, and the digest of the statement's canonical JSON; the
   statement was computed at that size;
3. every log index the statement cites is among the entries, and every entry's inclusion
   proof leads to the checkpoint's root (RFC 9162 §2.1.3.2);
4. the figures, recomputed from the events in the entries, are the statement's: gross
   emissions and in-boundary removals from the inventory, retired credits from the city's
   claims (each on a retirement for the city, of removal units), sold credits from the
   sales and retirements for others of the projects the inventory links, each unit once;
   then positive, negative, net and the shares.

What a bundle cannot show is that nothing was left out: an entry the statement does not cite
(a later revision of the inventory, a claim it omits, a blocking finding) is not in the
bundle. That takes the whole log: ``registry audit`` replays it and rebuilds the state the
statement was computed from.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from ledger import b64, canonical
from ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, sign_checkpoint
from ledger.entry import LogEntry
from ledger.errors import CanonicalJSONError, CheckpointError, EntryError, NoteError, ProofError
from ledger.keys import SignerKey, VerifierKey
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.merkle import root as merkle_root
from ledger.note import open_note, sign
from ledger.reader import LogReader
from ledger.tiles import TileHashes
from registry.balance import STATEMENT_TYPE, percent
from registry.errors import InvalidEventError, StatementError
from registry.events import AnyEvent, Claimed, Inventoried, ProjectRegistered, Retired, Sold, parse_event
from registry.serials import SerialRange
from registry.statements import PAYLOAD_TYPE
from registry.vocabulary import GpcSector, UnitType

NOTE_HEADER = "carbon-registry/net-emissions-statement/v1"
BUNDLE_FIELDS = frozenset({"statement", "note", "checkpoint", "entries"})
TERMS = ("gross_emissions", "sold_credits", "in_boundary_removals", "retired_credits")

Json = dict[str, Any]
E = TypeVar("E", bound=AnyEvent)


# --- reading the state ---------------------------------------------------------------------------


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
    """A transaction in which every read sees one committed state, so a statement is never torn.

    PostgreSQL's default isolation (READ COMMITTED) takes a new snapshot for each query, and a
    batch committing between two of the statement's queries would mix two states; REPEATABLE
    READ keeps the snapshot of the first query. SQLite in WAL mode gives a deferred
    transaction one snapshot from its first read on.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


# --- signing -------------------------------------------------------------------------------------


def statement_digest(statement: Json) -> bytes:
    """SHA-256 of the RFC 8785 canonical JSON of ``statement``: what the note binds."""
    return hashlib.sha256(canonical.encode(statement)).digest()


def note_text(statement: Json, checkpoint: Checkpoint) -> str:
    """The text of the note that binds ``statement`` to the tree of ``checkpoint`` (module docstring)."""
    lines = [
        NOTE_HEADER,
        checkpoint.origin,
        str(statement["city"]["id"]),
        str(statement["year"]),
        f"size {checkpoint.size}",
        b64.encode(checkpoint.root),
        f"sha256 {b64.encode(statement_digest(statement))}",
    ]
    return "".join(line + "\n" for line in lines)


def checkpoint_at(size: int, *, log_key: SignerKey, published: SignedCheckpoint, reader: LogReader) -> SignedCheckpoint:
    """The log's signed checkpoint of exactly ``size``, given its latest published one.

    The published checkpoint itself, or the one the log recorded for ``size``; failing both
    (another writer's batch was published together with the one that reached ``size``), a
    checkpoint signed now, once a consistency proof (RFC 9162 §2.1.4) shows the tree of
    ``size`` is a prefix of the published tree, so it cannot contradict anything published.
    Raises :class:`StatementError` if ``size`` is beyond the published checkpoint: a size the
    log has not published yet is not signed here (DESIGN.md §3, safety rules).
    """
    origin = published.checkpoint.origin
    if log_key.name != origin:
        raise StatementError("checkpoint", f"log key {log_key.name!r} does not sign for {origin!r}")
    if size > published.size:
        raise StatementError(
            "checkpoint",
            f"the statement reflects {size} log entries but the latest published checkpoint covers "
            f"{published.size}: ask again once the log has published it",
        )
    if size == published.size:
        return published
    recorded = reader.store.checkpoint_at(size)
    if recorded is not None:
        return open_checkpoint(recorded, log_key.verifier)
    if size == 0:
        raise StatementError("checkpoint", "a statement needs at least one log entry")
    root = merkle_root(size, TileHashes(reader.store.read_tile))
    verify_consistency(size, published.size, root, published.root, reader.consistency_proof(size, published.size))
    return sign_checkpoint(Checkpoint(origin, size, root), log_key)


def sign_statement(statement: Json, *, log_key: SignerKey, published: SignedCheckpoint, reader: LogReader) -> Json:
    """Return the signed bundle of ``statement`` (module docstring): note, checkpoint, entries and proofs.

    ``statement`` must come from :func:`registry.balance.statement`, read in one transaction
    (:func:`consistent_read`); ``published`` is the log's latest published checkpoint, which must
    cover ``statement["log_size"]``. Raises :class:`StatementError` if it does not, or if an
    entry the statement cites is not in the store.
    """
    size = int(statement["log_size"])
    checkpoint = checkpoint_at(size, log_key=log_key, published=published, reader=reader)
    note = sign(note_text(statement, checkpoint.checkpoint), [log_key])  # C2SP signed-note, Ed25519
    entries = []
    for index in statement["evidence"]:
        data = reader.store.entry(index) if index < size else None
        if data is None:
            raise StatementError("entries", f"entry {index} is not in the log of size {size}", index)
        proof = reader.inclusion_proof(index, size)  # RFC 9162 §2.1.3.1
        entries.append({"index": index, "entry": b64.encode(data), "proof": [b64.encode(h) for h in proof]})
    return {"statement": statement, "note": note.encode(), "checkpoint": checkpoint.encode(), "entries": entries}


# --- verifying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedStatement:
    """A statement whose bundle verified, the checkpoint it is anchored in, and the checks made."""

    statement: Json
    checkpoint: SignedCheckpoint
    steps: tuple[str, ...]

    @property
    def city(self) -> str:
        return str(self.statement["city"]["id"])

    @property
    def year(self) -> int:
        return int(self.statement["year"])

    @property
    def size(self) -> int:
        return self.checkpoint.size


def verify_statement(bundle: Any, log_vkey: VerifierKey) -> VerifiedStatement:
    """Verify a signed statement offline against the log's verifier key (steps in the module docstring).

    Raises :class:`StatementError` naming the step and, where there is one, the log index at fault.
    """
    # (0) The bundle's shape.
    if not isinstance(bundle, dict) or set(bundle) != BUNDLE_FIELDS:
        raise StatementError("bundle", f"must be an object with exactly {', '.join(sorted(BUNDLE_FIELDS))}")
    statement = _object(bundle["statement"], "statement")
    if statement.get("type") != STATEMENT_TYPE:
        raise StatementError("bundle", f"the statement's type must be {STATEMENT_TYPE!r}")
    city = _string(_object(statement.get("city"), "statement.city").get("id"), "statement.city.id")
    year = _integer(statement.get("year"), "statement.year")
    steps: list[str] = []

    # (1) The checkpoint: the log's signature and origin.
    try:
        checkpoint = open_checkpoint(_string(bundle["checkpoint"], "checkpoint"), log_vkey)
    except CheckpointError as exc:
        raise StatementError("checkpoint", str(exc)) from exc
    size, root = checkpoint.size, checkpoint.root
    steps.append(f"checkpoint: signed by the log {checkpoint.checkpoint.origin}, tree size {size}")

    # (2) The note: the log's signature (C2SP signed-note), and what it binds.
    try:
        note = open_note(_string(bundle["note"], "note"), [log_vkey])
    except NoteError as exc:
        raise StatementError("note", f"not signed by the log key: {exc}") from exc
    try:
        expected = note_text(statement, checkpoint.checkpoint).split("\n")
    except CanonicalJSONError as exc:
        raise StatementError("bundle", f"the statement cannot be canonicalised: {exc}") from exc
    _compare_note(note.text.split("\n"), expected)
    if statement.get("log_size") != size:
        raise StatementError("note", f"the statement reflects {statement.get('log_size')} entries, not {size}")
    steps.append(f"note: signed by the log key; binds {city} {year}, tree size {size}, root and statement SHA-256")

    # (3) The entries: every cited index is there, and included in the tree of the checkpoint.
    evidence = _indices(statement.get("evidence"), "statement.evidence")
    cited = set(evidence)
    citations = (c for key, value in statement.items() if key != "evidence" for c in _citations(value, key))
    for where, indices in citations:
        uncited = sorted(set(indices) - cited)
        if uncited:
            raise StatementError(
                "bundle", f"{where} cites entry {uncited[0]}, which statement.evidence omits", uncited[0]
            )
    entries = _entries(bundle["entries"])
    for index in evidence:
        if index not in entries:
            raise StatementError("entries", f"entry {index}, which the statement cites, is missing", index)
    for index, (data, proof) in entries.items():
        if index not in cited:
            raise StatementError("entries", f"entry {index} is not evidence of the statement", index)
        try:
            verify_inclusion(index, size, leaf_hash(data), proof, root)  # RFC 9162 §2.1.3.2
        except ProofError as exc:
            raise StatementError("entries", f"entry {index}: inclusion proof does not verify: {exc}", index) from exc
    steps.append(f"entries: {len(entries)} entries, each included in the tree of size {size} (RFC 9162)")

    # (4) The figures, recomputed from the events in the entries.
    events = _Events({index: data for index, (data, _) in entries.items()}, checkpoint.checkpoint.origin)
    steps.extend(_Recount(statement, events, city, year).check())
    return VerifiedStatement(statement, checkpoint, tuple(steps))


def _compare_note(found: list[str], expected: list[str]) -> None:
    """Name the first line of the note that differs from the text the bundle calls for."""
    names = ("header", "origin", "city", "year", "size", "root", "sha256", "end")
    if len(found) != len(expected):
        raise StatementError("note", f"has {len(found) - 1} lines, not {len(expected) - 1}")
    for name, have, want in zip(names, found, expected, strict=False):
        if have == want:
            continue
        if name == "sha256":
            raise StatementError("note", "its sha256 does not match the statement: the statement was altered")
        if name in ("size", "root"):
            raise StatementError("note", f"its {name} ({have!r}) is not the checkpoint's ({want!r})")
        raise StatementError("note", f"its {name} line is {have!r}, expected {want!r}")


def _entries(value: Any) -> dict[int, tuple[bytes, list[bytes]]]:
    """The bundle's entries as index → (entry bytes, proof hashes), refusing malformed or repeated ones."""
    if not isinstance(value, list):
        raise StatementError("bundle", "entries must be a list")
    entries: dict[int, tuple[bytes, list[bytes]]] = {}
    for n, item in enumerate(value):
        where = f"entries[{n}]"
        if not isinstance(item, dict) or set(item) != {"index", "entry", "proof"}:
            raise StatementError("bundle", f"{where} must be an object with exactly index, entry and proof")
        index = _integer(item["index"], f"{where}.index")
        if index in entries:
            raise StatementError("bundle", f"entry {index} appears twice", index)
        proof = item["proof"]
        if not isinstance(proof, list):
            raise StatementError("bundle", f"{where}.proof must be a list", index)
        entries[index] = (
            _base64(item["entry"], f"{where}.entry", index),
            [_base64(h, f"{where}.proof[{i}]", index) for i, h in enumerate(proof)],
        )
    return entries


class _Events:
    """The events of the bundle's entries, decoded on first use."""

    def __init__(self, entries: dict[int, bytes], origin: str) -> None:
        self._entries = entries
        self._origin = origin
        self._events: dict[int, AnyEvent] = {}

    def event(self, index: int) -> AnyEvent:
        """The event at ``index``, whatever its type."""
        event = self._events.get(index)
        if event is None:
            event = self._events[index] = self._decode(index)
        return event

    def get(self, index: int, kind: type[E], what: str) -> E:
        """The event at ``index``, which must be of ``kind``; ``what`` says what the statement takes it for."""
        event = self.event(index)
        if not isinstance(event, kind):
            raise StatementError("figures", f"entry {index} is a {event.type} event, not {what}", index)
        return event

    def _decode(self, index: int) -> AnyEvent:
        data = self._entries.get(index)
        if data is None:
            raise StatementError("entries", f"entry {index}, which the statement rests on, is missing", index)
        try:
            envelope = LogEntry.decode(data).envelope
            if envelope.payload_type != PAYLOAD_TYPE:
                raise InvalidEventError("payloadType", f"{envelope.payload_type!r} is not a registry event")
            event = parse_event(envelope.payload)
        except (EntryError, InvalidEventError) as exc:
            raise StatementError("figures", f"entry {index} is not a registry event: {exc}", index) from exc
        if event.registry != self._origin:
            raise StatementError("figures", f"entry {index} is an event for {event.registry!r}", index)
        return event


@dataclass
class _Recount:
    """Step (4): the statement's figures, recomputed from its entries, compared one by one."""

    statement: Json
    events: _Events
    city: str
    year: int

    def check(self) -> list[str]:
        terms = _object(self.statement.get("terms"), "statement.terms")
        term = {name: _object(terms.get(name), f"terms.{name}") for name in TERMS}
        inventory, at = self._inventory(term["gross_emissions"])
        gross = self._gross(inventory, term["gross_emissions"])
        removals = self._removals(inventory, term["in_boundary_removals"])
        retired, durable = self._retired(term["retired_credits"])
        sold = self._sold(inventory, at, term["sold_credits"])
        positive, negative = gross + sold, removals + retired
        _same("positive", positive, self.statement.get("positive"))
        _same("negative", negative, self.statement.get("negative"))
        _same("net", positive - negative, self.statement.get("net"))
        permanent = sum(line.tonnes for line in inventory.removals if line.durability == "permanent")
        self._shares(negative, permanent + durable)
        return [
            f"figures: the inventory at entry {at} gives gross emissions {gross} t and in-boundary removals "
            f"{removals} t",
            f"figures: the city's claims give retired credits {retired} t; sales and retirements for others "
            f"give sold credits {sold} t",
            f"figures: positive {positive} t, negative {negative} t, net {positive - negative} t",
        ]

    def _inventory(self, term: Json) -> tuple[Inventoried, int]:
        evidence = _indices(term.get("evidence"), "terms.gross_emissions.evidence")
        if len(evidence) != 1:
            raise StatementError("figures", "gross_emissions must rest on exactly one inventory")
        at = evidence[0]
        inventory = self.events.get(at, Inventoried, "an inventory")
        if (inventory.city, inventory.year) != (self.city, self.year):
            raise StatementError(
                "figures",
                f"entry {at} is the inventory of {inventory.city!r} for {inventory.year}, "
                f"not of {self.city!r} for {self.year}",
                at,
            )
        start, end = inventory.bounds
        _same("period", {"start": start.isoformat(), "end": end.isoformat()}, self.statement.get("period"))
        _same("gwp", inventory.gwp, self.statement.get("gwp"))
        return inventory, at

    def _gross(self, inventory: Inventoried, term: Json) -> int:
        by_sector = {sector.value: 0 for sector in GpcSector}
        by_scope = {"1": 0, "2": 0, "3": 0}
        for line in inventory.emissions:
            if line.tonnes is not None:  # a notation key (NO, IE, NE, C) carries no tonnes
                by_sector[line.sector.value] += line.tonnes
                by_scope[str(line.scope)] += line.tonnes
        gross = sum(by_sector.values())
        _same("gross_emissions", gross, self.statement.get("gross_emissions"))
        _same("terms.gross_emissions.tonnes", gross, term.get("tonnes"))
        _same("terms.gross_emissions.by_sector", by_sector, term.get("by_sector"))
        _same("terms.gross_emissions.by_scope", by_scope, term.get("by_scope"))
        return gross

    def _removals(self, inventory: Inventoried, term: Json) -> int:
        by_method: dict[str, int] = defaultdict(int)
        for line in inventory.removals:
            by_method[line.method.value] += line.tonnes
        removals = sum(by_method.values())
        _same("in_boundary_removals", removals, self.statement.get("in_boundary_removals"))
        _same("terms.in_boundary_removals.tonnes", removals, term.get("tonnes"))
        _same("terms.in_boundary_removals.by_method", dict(sorted(by_method.items())), term.get("by_method"))
        return removals

    def _retired(self, term: Json) -> tuple[int, int]:
        """Retired credits, and how many of them the statement calls durable."""
        total = durable = 0
        seen: set[int] = set()
        for n, item in enumerate(_list(term.get("projects"), "terms.retired_credits.projects")):
            where = f"terms.retired_credits.projects[{n}]"
            credit = _object(item, where)
            project = _string(credit.get("project"), f"{where}.project")
            self._removal_project(project, credit, where)
            tonnes = 0
            for at in _indices(credit.get("claims"), f"{where}.claims"):
                if at in seen:
                    raise StatementError("figures", f"the claim at entry {at} is counted twice", at)
                seen.add(at)
                tonnes += self._claim(at, project).quantity
            _same(f"retired credits of {project!r}", tonnes, credit.get("tonnes"))
            total += tonnes
            durable += tonnes if credit.get("durable") is True else 0
        _same("retired_credits", total, self.statement.get("retired_credits"))
        _same("terms.retired_credits.tonnes", total, term.get("tonnes"))
        return total, durable

    def _claim(self, at: int, project: str) -> SerialRange:
        """The units claimed at entry ``at``: by the city, for the year, on a retirement for the city."""
        claim = self.events.get(at, Claimed, "a claim")
        if (claim.city, claim.year) != (self.city, self.year):
            raise StatementError(
                "figures", f"entry {at} is a claim by {claim.city!r} for {claim.year}, not {self.city!r}'s", at
            )
        if claim.serial.project != project:
            raise StatementError("figures", f"the claim at entry {at} is of {claim.serial.project!r}, not {project!r}")
        retirement = self.events.get(claim.retirement, Retired, f"the retirement the claim at entry {at} names")
        if retirement.beneficiary.account != self.city:
            raise StatementError(
                "figures", f"the retirement at entry {claim.retirement} is not for {self.city!r}", claim.retirement
            )
        if not _within(claim.serial, retirement.serial):
            raise StatementError(
                "figures",
                f"the claim at entry {at} ({claim.serial}) is not within the retirement at entry "
                f"{claim.retirement} ({retirement.serial})",
                at,
            )
        return claim.serial

    def _removal_project(self, project: str, credit: Json, where: str) -> None:
        """The project's registration is among the credit's evidence, and says what the statement does:
        removal units (JRC guidance: only removals compensate), its method, and for CRCF units
        whether they are durable (permanent removals only)."""
        for at in _indices(credit.get("evidence"), f"{where}.evidence"):
            event = self.events.event(at)
            if not isinstance(event, ProjectRegistered) or event.project != project:
                continue
            unit_type = event.unit_type
            if unit_type.value != credit.get("unit_type") or not unit_type.is_removal:
                raise StatementError(
                    "figures", f"{project!r} issues {unit_type} units (entry {at}), not removals of its type", at
                )
            if event.method.value != credit.get("method"):
                raise StatementError("figures", f"{project!r} removes by {event.method} (entry {at})", at)
            if unit_type.is_crcf and credit.get("durable") != (unit_type == UnitType.PERMANENT_REMOVAL):
                raise StatementError("figures", f"{where}.durable is wrong for {unit_type} units (entry {at})", at)
            return
        raise StatementError("figures", f"the registration of {project!r} is not among its evidence")

    def _sold(self, inventory: Inventoried, inventory_at: int, term: Json) -> int:
        linked = {line.project for line in inventory.removals if line.project is not None}
        total = 0
        for n, item in enumerate(_list(term.get("projects"), "terms.sold_credits.projects")):
            where = f"terms.sold_credits.projects[{n}]"
            sold = _object(item, where)
            project = _string(sold.get("project"), f"{where}.project")
            if project not in linked:
                raise StatementError(
                    "figures", f"the inventory at entry {inventory_at} links no removal to {project!r}"
                )
            spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for at in _indices(sold.get("evidence"), f"{where}.evidence"):
                if at == inventory_at:
                    continue
                moved = self.events.event(at)
                if not isinstance(moved, Sold | Retired):
                    raise StatementError(
                        "figures", f"entry {at} is a {moved.type} event, not a sale or a retirement", at
                    )
                if moved.serial.project != project:
                    raise StatementError("figures", f"entry {at} moves units of {moved.serial.project!r}", at)
                if isinstance(moved, Retired) and moved.beneficiary.account == self.city:
                    raise StatementError("figures", f"entry {at} retires units for {self.city!r} itself: not sold", at)
                if isinstance(moved, Sold) and moved.to == self.city:
                    raise StatementError("figures", f"entry {at} sells units to {self.city!r} itself: not sold", at)
                spans[moved.serial.batch].append((moved.serial.first, moved.serial.last))
            tonnes = sum(_units(ranges) for ranges in spans.values())  # a unit sold twice leaves the city once
            _same(f"sold credits of {project!r}", tonnes, sold.get("tonnes"))
            total += tonnes
        _same("sold_credits", total, self.statement.get("sold_credits"))
        _same("terms.sold_credits.tonnes", total, term.get("tonnes"))
        return total

    def _shares(self, negative: int, durable: int) -> None:
        shares = _object(self.statement.get("shares"), "statement.shares")
        compensation = _object(shares.get("compensation_of_base_year"), "shares.compensation_of_base_year")
        _same("shares.compensation_of_base_year.tonnes", negative, compensation.get("tonnes"))
        base_year = compensation.get("base_year")
        if base_year is not None:
            cited = _indices(compensation.get("evidence"), "shares.compensation_of_base_year.evidence")
            if len(cited) != 1:
                raise StatementError("figures", "the base-year share must rest on exactly one inventory")
            at = cited[0]
            base = self.events.get(at, Inventoried, "an inventory")
            if (base.city, base.year, base.base_year) != (self.city, base_year, True):
                raise StatementError("figures", f"entry {at} is not {self.city!r}'s base-year inventory", at)
            total = sum(line.tonnes for line in base.emissions if line.tonnes is not None)
            _same("shares.compensation_of_base_year.of", total, compensation.get("of"))
            _same(
                "shares.compensation_of_base_year.percent",
                percent(negative, total) if total else None,
                compensation.get("percent"),
            )
        share = _object(shares.get("durable"), "shares.durable")
        _same(
            "shares.durable",
            {"tonnes": durable, "of": negative, "percent": percent(durable, negative) if negative else None},
            {key: share.get(key) for key in ("tonnes", "of", "percent")},
        )


# --- small checks --------------------------------------------------------------------------------


def _same(figure: str, recomputed: object, stated: object) -> None:
    if recomputed != stated:
        raise StatementError("figures", f"{figure}: the statement says {stated!r}, the entries give {recomputed!r}")


def _within(inner: SerialRange, outer: SerialRange) -> bool:
    return inner.batch == outer.batch and outer.first <= inner.first and inner.last <= outer.last


def _units(spans: list[tuple[int, int]]) -> int:
    """How many serials the closed ranges ``spans`` cover together, each counted once."""
    total, reach = 0, 0
    for first, last in sorted(spans):
        if last > reach:
            total += last - max(first, reach + 1) + 1
            reach = last
    return total


def _citations(value: Any, where: str) -> Iterable[tuple[str, list[int]]]:
    """Every list of log indices in ``value`` (under ``evidence`` or ``claims``), with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("evidence", "claims"):
                yield f"{where}.{key}", _indices(item, f"{where}.{key}")
            else:
                yield from _citations(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _citations(item, f"{where}[{n}]")


def _object(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise StatementError("bundle", f"{where} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise StatementError("bundle", f"{where} must be a list")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise StatementError("bundle", f"{where} must be a string")
    return value


def _integer(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StatementError("bundle", f"{where} must be a non-negative integer")
    return value


def _indices(value: Any, where: str) -> list[int]:
    return [_integer(item, f"{where}[{n}]") for n, item in enumerate(_list(value, where))]


def _base64(value: Any, where: str, index: int) -> bytes:
    try:
        return b64.decode(_string(value, where))
    except ValueError as exc:
        raise StatementError("bundle", f"{where} is not canonical base64: {exc}", index) from exc
