"""Intake of submitted envelopes: strict parsing and signature checks, off the writer's path.

Before an event reaches the sequencer's lock its payload is decoded (RFC 8785, strictly) and
every signature by a key the committed state knows is verified (Ed25519 over the DSSE PAE).
Small submissions are checked on threads (Ed25519 releases the GIL); a large batch is checked
in worker processes, so that decoding — which holds the GIL — does not compete with the
writer applying the previous batch. The event model (pydantic) is built here, in this process,
so errors are raised in the same order either way: a malformed field before a bad signature.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from ledger.dsse import Envelope
from registry import authority
from registry.errors import InvalidEventError, RegistryError, UnauthorisedError
from registry.events import AnyEvent, decode_payload, validate_event
from registry.statements import PAYLOAD_TYPE

PROCESS_BATCH = 256
"""Batches at least this large are checked in worker processes (started on first use)."""

Checked = tuple[str, Any, Any]
"""What a worker returns for one envelope, in plain picklable values:
("ok", payload object, verified key ids), ("unauthorised", payload object, message) or
("invalid", field, message)."""


@dataclass(frozen=True)
class Prepared:
    """An envelope whose payload parsed and whose known signers' signatures verified."""

    envelope: Envelope
    event: AnyEvent
    verified: dict[str, bytes]


def check(envelope: Envelope, known: Mapping[str, bytes]) -> Checked:
    """Decode the payload and verify the signatures by ``known`` keys (keyid → public key)."""
    if envelope.payload_type != PAYLOAD_TYPE:
        return ("invalid", "payloadType", f"must be {PAYLOAD_TYPE!r}, got {envelope.payload_type!r}")
    try:
        value = decode_payload(envelope.payload)
    except InvalidEventError as exc:
        return ("invalid", exc.field, str(exc).removeprefix(f"{exc.field}: "))
    try:
        verified = authority.verify_signatures(envelope, lambda _ids: known)
    except UnauthorisedError as exc:
        return ("unauthorised", value, str(exc))
    return ("ok", value, list(verified))


def check_all(envelopes: Sequence[Envelope], known: Mapping[str, bytes]) -> list[Checked]:
    """:func:`check` for each envelope (one task of a worker)."""
    return [check(envelope, known) for envelope in envelopes]


class Intake:
    """Checks submitted envelopes against the committed key state, on threads or processes."""

    def __init__(self, engine: Engine, workers: int = 2) -> None:
        self.engine = engine
        self.workers = max(1, workers)
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="intake")
        self._processes: ProcessPoolExecutor | None = None

    def close(self) -> None:
        self._threads.shutdown()
        if self._processes is not None:
            self._processes.shutdown()

    def prepare(self, envelopes: Sequence[Envelope]) -> list[Prepared | RegistryError]:
        """Each envelope parsed and checked, or the error that refuses it, in order."""
        keyids = {k for envelope in envelopes for k in envelope.keyids}
        with self.engine.connect() as conn:
            known = dict(authority.bound_keys(conn)(keyids)) if keyids else {}
        if len(envelopes) == 1:
            results = [check(envelopes[0], known)]
        else:
            # One task per worker, not per envelope: hand-offs cost more than they save.
            size = -(-len(envelopes) // self.workers)
            chunks = [envelopes[i : i + size] for i in range(0, len(envelopes), size)]
            pool = self._pool(len(envelopes))
            results = [r for part in pool.map(check_all, chunks, [known] * len(chunks)) for r in part]
        return [_prepared(envelope, result, known) for envelope, result in zip(envelopes, results, strict=True)]

    def _pool(self, count: int) -> Executor:
        if count < PROCESS_BATCH:
            return self._threads
        if self._processes is None:
            self._processes = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._processes


def _prepared(envelope: Envelope, result: Checked, known: Mapping[str, bytes]) -> Prepared | RegistryError:
    outcome, first, second = result
    if outcome == "invalid":
        return InvalidEventError(first, second)
    try:
        event = validate_event(first)
    except InvalidEventError as exc:
        return exc
    if outcome == "unauthorised":
        return UnauthorisedError(second)
    return Prepared(envelope, event, {keyid: known[keyid] for keyid in second})
