"""The log's side of C2SP tlog-witness: push each new checkpoint to the witnesses, keep their cosignatures.

After a checkpoint is published, :class:`Witnessing` sends it to every configured witness
with an RFC 9162 consistency proof from the size that witness last co-signed, and appends
the cosignature lines they return to the checkpoint's note in ``log_checkpoints``. The note
stays a valid checkpoint (C2SP signed-note: verifiers ignore signers they do not know), so
every reader of the store serves the co-signed form once it is there.

A witness that answers 409 tells us the size it holds (``text/x.tlog.size``); we retry once
from that size. A witness that refuses a checkpoint (403, 422) or cannot be reached is
reported in :attr:`Witnessing.failures` and tried again at the next checkpoint: witnessing
never blocks a write.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.errors import LedgerError
from ledger.keys import VerifierKey
from ledger.note import Note, NoteSignature, parse
from ledger.reader import LogReader
from ledger.store import log_checkpoints
from ledger.witness import SIZE_MEDIA_TYPE, AddCheckpoint, cosignatures

log = logging.getLogger(__name__)

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")  # a tree size: decimal, no leading zeroes, below 2^63


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness: its cosigning key and its submission prefix (``<url>/add-checkpoint``)."""

    key: VerifierKey
    url: str


class WitnessingError(LedgerError):
    """A witness refused a checkpoint or could not be reached."""

    code = "witness-failed"


class Witnessing:
    """Collects witness cosignatures for the latest checkpoint of one log."""

    def __init__(
        self,
        reader: LogReader,
        log_key: VerifierKey,
        witnesses: Sequence[WitnessEndpoint],
        *,
        client: httpx.Client | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.reader = reader
        self.log_key = log_key
        self.witnesses = tuple(witnesses)
        self._client = client  # made on the first push: a registry opened by a CLI command never pushes
        self._timeout = timeout
        self.failures: dict[str, str] = {}
        """The last failure of each witness that failed at the latest push, by key name."""
        self._held: dict[VerifierKey, int] = {}  # the size each witness last co-signed, as far as we know
        self._refused: dict[VerifierKey, bytes] = {}  # the root each witness refused: not sent again
        self._owns_client = client is None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def client(self) -> httpx.Client:
        """The HTTP client the pushes use (the caller's, or one made on first use and closed by :meth:`stop`)."""
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout)
        return self._client

    def push(self) -> SignedCheckpoint | None:
        """Send the latest recorded checkpoint to every witness that has not co-signed it; return it co-signed.

        Returns None when the log has no checkpoint yet. Failures are kept in :attr:`failures`.
        """
        with self._lock:
            recorded = self.reader.store.latest_checkpoint()
            if recorded is None:
                return None
            size, text = recorded
            signed = open_checkpoint(text, self.log_key, witnesses=[w.key for w in self.witnesses])
            if signed.size != size:  # the row's key decides which checkpoint is latest
                raise WitnessingError(f"the checkpoint filed under size {size} signs size {signed.size}")
            # A witness that refused this very tree is not asked again until the log grows:
            # the refusal is logged once, and the witness is not flooded with it.
            missing = [
                w for w in self.witnesses if w.key not in signed.cosigners and self._refused.get(w.key) != signed.root
            ]
            if not missing:
                return signed
            with ThreadPoolExecutor(len(missing), thread_name_prefix="witness") as pool:
                answers = list(pool.map(lambda w: self._answer(w, signed), missing))
            added: list[NoteSignature] = []
            for witness, answer in zip(missing, answers, strict=True):
                if isinstance(answer, Note):
                    added.extend(answer.signatures)
                    self.failures.pop(witness.key.name, None)
                else:
                    self.failures[witness.key.name] = answer
                    log.warning("witness %s: %s", witness.key.name, answer)
            note = self._record(size, added) if added else signed.note
            return open_checkpoint(note, self.log_key, witnesses=[w.key for w in self.witnesses])

    def _answer(self, witness: WitnessEndpoint, signed: SignedCheckpoint) -> Note | str:
        """:meth:`_ask`, with any failure of the exchange turned into its reason."""
        try:
            return self._ask(witness, signed)
        except Exception as exc:  # one witness's garbage must not cost the others' cosignatures
            return f"failed: {type(exc).__name__}: {exc}"

    def _ask(self, witness: WitnessEndpoint, signed: SignedCheckpoint) -> Note | str:
        """Return the witness's valid cosignature on ``signed``, or why there is none."""
        old = self._held.get(witness.key, 0)
        for _attempt in range(2):
            if old > signed.size:
                return f"holds size {old}, beyond this log's latest checkpoint {signed.size}"
            proof = self.reader.consistency_proof(old, signed.size) if 0 < old < signed.size else []
            # The witness needs only the log's signature; other witnesses' lines are noise to it.
            log_lines = tuple(
                s for s in signed.note.signatures if (s.name, s.key_id) == (self.log_key.name, self.log_key.key_id)
            )
            body = AddCheckpoint(old, tuple(proof), Note(signed.note.text, log_lines).encode())
            try:
                response = self.client.post(f"{witness.url.rstrip('/')}/add-checkpoint", content=body.encode())
            except httpx.HTTPError as exc:
                return f"unreachable: {exc}"
            if response.status_code == 409 and response.headers.get("content-type", "").startswith(SIZE_MEDIA_TYPE):
                held = response.text[:32].strip()
                if not _SIZE.fullmatch(held) or int(held) == old:
                    if _SIZE.fullmatch(held):
                        self._refused[witness.key] = signed.root  # the same size with another root
                    return f"409 conflict at size {held!r}"
                old = int(held)  # C2SP tlog-witness: retry from the size the witness holds
                continue
            if response.status_code != 200:
                if 400 <= response.status_code < 500:
                    self._refused[witness.key] = signed.root
                return f"{response.status_code}: {_summary(response)}"
            try:
                cosigned = cosignatures(response.text, body.checkpoint, [witness.key])
            except LedgerError as exc:
                return f"answered an invalid cosignature: {exc}"
            self._held[witness.key] = signed.size
            return Note(cosigned.text, tuple(s for s in cosigned.signatures if s.name == witness.key.name))
        return "409 conflict twice"

    def _record(self, size: int, added: list[NoteSignature]) -> Note:
        """Append ``added`` to the stored note of ``size`` and return the note stored.

        The only write to a published checkpoint. A compare-and-set on the note read, retried,
        so two pushers (two server processes) never drop each other's lines; one line per key,
        the first kept, because a note with two lines by one key does not verify (signed-note).
        """
        store = self.reader.store
        for _attempt in range(5):
            current = store.checkpoint_at(size)
            if current is None:
                raise WitnessingError(f"the checkpoint of size {size} disappeared from the store")
            note = parse(current)
            merged = note.with_signatures(_new_keys(note.signatures, added))
            if merged == note:
                return note
            with store.engine.begin() as conn:
                updated = conn.execute(
                    log_checkpoints.update()
                    .where(log_checkpoints.c.size == size)
                    .where(log_checkpoints.c.note == current)
                    .values(note=merged.encode())
                )
            if updated.rowcount == 1:
                return merged
        raise WitnessingError(f"the checkpoint of size {size} kept changing while cosignatures were added")

    def start(self, interval: float = 0.5) -> None:
        """Push in a background thread every ``interval`` seconds, and whenever :meth:`wake` is called."""

        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.push()
                except Exception:  # a bad round must not end witnessing; the next one retries
                    log.exception("witnessing round failed")
                self._wake.wait(interval)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="witnessing", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask the background thread to push now (a checkpoint was just published)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the background thread and close the HTTP client."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=4 * self._timeout)  # a round: two requests per witness, then the store
        if self._owns_client and self._client is not None:
            self._client.close()


def _new_keys(present: Sequence[NoteSignature], added: Sequence[NoteSignature]) -> list[NoteSignature]:
    """The lines of ``added`` by keys that have no line in ``present`` yet, one per key."""
    seen = {(s.name, s.key_id) for s in present}
    fresh = []
    for line in added:
        if (line.name, line.key_id) not in seen:
            seen.add((line.name, line.key_id))
            fresh.append(line)
    return fresh


def _summary(response: httpx.Response) -> str:
    text = response.text[:200].strip()
    return text.splitlines()[0] if text else response.reason_phrase
