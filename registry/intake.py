"""Intake of submitted envelopes: strict parsing and signature checks, off the writer's path.

Before an event reaches the sequencer's lock its payload is decoded (RFC 8785, strictly) and
every signature by a key the committed state knows is verified (Ed25519 over the DSSE PAE).
A few envelopes are checked on the calling thread, more on threads (Ed25519 releases the
GIL), and a large batch in worker processes, so that decoding and validation — which hold the
GIL — do not compete with the writer applying the previous batch. Either way an envelope is
checked in the same order, so it is refused for the same reason: a malformed payload, then a
field the event model refuses, then a bad signature.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Engine

from ledger.dsse import Envelope
from registry import authority
from registry.errors import InvalidEventError, RegistryError, UnauthorisedError
from registry.events import AnyEvent, decode_payload, validate_event
from registry.statements import PAYLOAD_TYPE

INLINE_BATCH = 64
"""Batches smaller than this are checked on the calling thread: handing a few envelopes to
other threads cost more (in thread wake-ups) than checking them (about 0.2 ms each)."""

PROCESS_BATCH = 256
"""Batches at least this large are checked in worker processes (started on first use)."""

Checked = tuple[str, Any, Any]
"""What a worker returns for one envelope, in picklable values: ("ok", event, verified key
ids) or ("refused", the InvalidEventError or UnauthorisedError, None)."""


@dataclass(frozen=True)
class Prepared:
    """An envelope whose payload parsed and whose known signers' signatures verified."""

    envelope: Envelope
    event: AnyEvent
    verified: dict[str, bytes]


def check(envelope: Envelope, known: Mapping[str, bytes]) -> Checked:
    """Decode and validate the payload, then verify the signatures by ``known`` keys (keyid → public key)."""
    try:
        if envelope.payload_type != PAYLOAD_TYPE:
            raise InvalidEventError("payloadType", f"must be {PAYLOAD_TYPE!r}, got {envelope.payload_type!r}")
        event = validate_event(decode_payload(envelope.payload))
        verified = authority.verify_signatures(envelope, lambda _ids: known)
    except (InvalidEventError, UnauthorisedError) as exc:
        return ("refused", exc, None)
    return ("ok", event, list(verified))


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
        # A keyid is a digest of its public key (DSSE keyid, registry.authority), so a key once
        # read never changes: only whether it is bound and live does, which the writer checks
        # under its lock (authority.authorise). Keys not bound (yet) are looked up every time.
        self._keys: dict[str, bytes] = {}

    def close(self) -> None:
        self._threads.shutdown()
        if self._processes is not None:
            self._processes.shutdown()

    def prepare(self, envelopes: Sequence[Envelope]) -> list[Prepared | RegistryError]:
        """Each envelope parsed and checked, or the error that refuses it, in order."""
        keyids = {k for envelope in envelopes for k in envelope.keyids}
        if missing := keyids.difference(self._keys):
            with self.engine.connect() as conn:
                self._keys.update(authority.bound_keys(conn)(missing))
        known = {k: self._keys[k] for k in keyids if k in self._keys}
        if len(envelopes) < INLINE_BATCH:
            results = check_all(envelopes, known)
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
    if outcome == "refused":
        return cast(RegistryError, first)
    return Prepared(envelope, first, {keyid: known[keyid] for keyid in second})
