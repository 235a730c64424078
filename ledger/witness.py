"""A C2SP tlog-witness: co-sign a log's checkpoints only while they extend what it saw before.

The witness keeps, for each log it knows (by origin), the size and root of the latest
checkpoint it co-signed. ``add-checkpoint`` (C2SP tlog-witness § "add-checkpoint") carries
an old size, an RFC 9162 consistency proof from that size and the new checkpoint; the
witness checks, in the order the spec gives:

(1) the body is well formed: ``old N``, at most 63 proof lines, a blank line, a checkpoint;
(2) the origin is a log it knows (else 404) and a trusted log key signed it (else 403);
(3) the old size is not above the checkpoint's size (else 400);
(4) the old size is the size it holds (else 409, answering the size it holds);
(5) at equal sizes the roots are equal (else 409); otherwise the consistency proof
    verifies from the root it holds to the new root (else 422);
(6) it records the new size and root, compare-and-set against the size it read, so two
    racing requests can never roll the record back, and only then co-signs
    (tlog-cosignature/v1) and answers the signature line.

A checkpoint refused at (5) was signed by the log, so its request is kept, once per
checkpoint, for whoever investigates: at equal sizes with another root it is by itself
proof of a fork; a larger checkpoint whose proof fails is a fork or a bad proof, which the
log's own consistency proof between the two settles. Errors carry the HTTP status the spec
assigns, for the API layer to map; this module knows nothing of HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ledger.checkpoint import Checkpoint
from ledger.errors import CheckpointError, LedgerError, NoteError, ProofError
from ledger.keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey
from ledger.merkle import HASH_SIZE, verify_consistency
from ledger.note import Note, open_note, parse, sign

MAX_PROOF_LINES = 63  # C2SP tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
SIZE_MEDIA_TYPE = "text/x.tlog.size"

metadata = sa.MetaData()

witness_logs = sa.Table(
    "witness_logs",
    metadata,
    sa.Column("origin", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

witness_evidence = sa.Table(
    "witness_evidence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("checkpoint_sha256", sa.LargeBinary, nullable=False),
    sa.Column("held_note", sa.Text, nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    # One row per refused checkpoint: resubmitting it (or replaying it) adds nothing.
    sa.UniqueConstraint("origin", "checkpoint_sha256"),
)


class WitnessError(LedgerError):
    """A refused add-checkpoint request; ``status`` is the HTTP status C2SP tlog-witness assigns."""

    code = "witness-refused"
    status = 400


class MalformedRequestError(WitnessError):
    code = "malformed-add-checkpoint"
    status = 400


class UnknownLogError(WitnessError):
    code = "unknown-log"
    status = 404


class LogSignatureError(WitnessError):
    code = "bad-log-signature"
    status = 403


class SizeConflictError(WitnessError):
    """The old size is not the size the witness holds; ``size`` is the one it holds."""

    code = "size-conflict"
    status = 409

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class InconsistentError(WitnessError):
    """The consistency proof to the checkpoint held does not verify (a fork, or a bad proof); kept as evidence."""

    code = "inconsistent-checkpoint"
    status = 422


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request body (C2SP tlog-witness)."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str
    """The checkpoint note, signature lines included."""

    def encode(self) -> bytes:
        proof = "".join(base64.b64encode(h).decode() + "\n" for h in self.proof)
        return f"old {self.old_size}\n{proof}\n{self.checkpoint}".encode()

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body; raise :class:`MalformedRequestError` naming the bad line."""
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise MalformedRequestError("the body is not UTF-8") from exc
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise MalformedRequestError("the body has no blank line before the checkpoint")
        old_line, *proof_lines = head.split("\n")
        old = old_line.removeprefix("old ")
        if old == old_line or not old.isascii() or not old.isdigit() or (old != "0" and old.startswith("0")):
            raise MalformedRequestError(f"line 1 must be 'old <size>' with no leading zeroes, got {old_line!r}")
        if len(proof_lines) > MAX_PROOF_LINES:
            raise MalformedRequestError(f"{len(proof_lines)} consistency proof lines; at most {MAX_PROOF_LINES}")
        proof = []
        for number, line in enumerate(proof_lines, start=2):
            try:
                digest = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MalformedRequestError(f"line {number} is not a base64 hash") from exc
            if len(digest) != HASH_SIZE:
                raise MalformedRequestError(f"line {number} holds {len(digest)} bytes, not a {HASH_SIZE}-byte hash")
            proof.append(digest)
        return cls(int(old), tuple(proof), checkpoint)


@dataclass(frozen=True)
class Held:
    """What the witness holds for one log: the latest checkpoint it co-signed."""

    size: int
    root: bytes
    note: str


def create_tables(engine: Engine) -> None:
    """Create the witness's tables if they do not exist."""
    metadata.create_all(engine)


class Witness:
    """Co-signs checkpoints of the logs it trusts; safe to share between threads and processes."""

    def __init__(
        self,
        engine: Engine,
        key: SignerKey,
        logs: Iterable[VerifierKey],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if key.alg != ALG_COSIGNATURE_V1:
            raise LedgerError(f"witness key {key.name!r} is not a tlog-cosignature/v1 key (keygen --cosigner)")
        self.engine = engine
        self.key = key
        self.clock = clock
        self.logs: dict[str, list[VerifierKey]] = {}
        for log_key in logs:
            if log_key.alg != ALG_ED25519:  # a cosigning key must never pass for the log's own
                raise LedgerError(f"log key {log_key.name!r} is not an Ed25519 checkpoint key (type 0x01)")
            # C2SP tlog-checkpoint: the log key's name is the origin it signs for.
            self.logs.setdefault(log_key.name, []).append(log_key)
        create_tables(engine)

    @property
    def verifier(self) -> VerifierKey:
        return self.key.verifier

    def held(self, origin: str) -> Held | None:
        """The latest checkpoint co-signed for ``origin``, if any."""
        with self.engine.connect() as conn:
            return _held(conn, origin)

    def evidence(self, origin: str) -> list[tuple[str, str, str]]:
        """Every refused, log-signed request for ``origin``: (note held, request, reason)."""
        query = (
            sa.select(witness_evidence.c.held_note, witness_evidence.c.request, witness_evidence.c.reason)
            .where(witness_evidence.c.origin == origin)
            .order_by(witness_evidence.c.id)
        )
        with self.engine.connect() as conn:
            return [(r.held_note, r.request, r.reason) for r in conn.execute(query)]

    def add_checkpoint(self, body: bytes) -> str:
        """Check an add-checkpoint request and answer its cosignature line(s), or raise :class:`WitnessError`."""
        request = AddCheckpoint.parse(body)  # (1)
        note, checkpoint = self._open(request.checkpoint)  # (2)
        if request.old_size > checkpoint.size:  # (3)
            raise MalformedRequestError(f"old size {request.old_size} is above the checkpoint's {checkpoint.size}")
        with self.engine.connect() as conn:
            held = _held(conn, checkpoint.origin)
        held_size = held.size if held else 0
        if request.old_size != held_size:  # (4)
            raise SizeConflictError(f"the witness holds size {held_size}, not {request.old_size}", held_size)
        self._check_consistent(request, checkpoint, held, body)  # (5)
        self._record(checkpoint, note, held)  # (6)
        signed = sign(checkpoint.body(), [self.key], timestamp=int(self.clock()))
        return "".join(s.line() for s in signed.signatures)

    def _open(self, text: str) -> tuple[Note, Checkpoint]:
        try:
            note = parse(text)
            checkpoint = Checkpoint.parse(note.text)
        except (NoteError, CheckpointError) as exc:
            raise MalformedRequestError(f"the checkpoint is malformed: {exc}") from exc
        trusted = self.logs.get(checkpoint.origin)
        if not trusted:
            raise UnknownLogError(f"unknown log {checkpoint.origin!r}")
        try:
            open_note(note, trusted)  # unknown signers (other witnesses) are ignored (C2SP signed-note)
        except NoteError as exc:
            raise LogSignatureError(f"no valid signature by the log's key: {exc}") from exc
        return note, checkpoint

    def _check_consistent(self, request: AddCheckpoint, checkpoint: Checkpoint, held: Held | None, body: bytes) -> None:
        if held is not None and held.size == checkpoint.size:
            if request.proof:  # RFC 9162 §2.1.4.1: the proof between a tree and itself is empty
                raise MalformedRequestError("a consistency proof between equal sizes must be empty")
            if held.root != checkpoint.root:
                reason = f"size {held.size} was co-signed with a different root"
                self._keep_evidence(checkpoint.origin, held, body, reason)
                raise SizeConflictError(reason, held.size)
            return
        if held is None or held.size == 0:  # every tree extends the empty one
            if request.proof:  # "The proof MUST be empty if the old size is zero."
                raise MalformedRequestError("a consistency proof from size 0 must be empty")
            return
        try:
            verify_consistency(
                held.size, checkpoint.size, held.root, checkpoint.root, request.proof
            )  # RFC 9162 §2.1.4.2
        except ProofError as exc:
            reason = f"not consistent with size {held.size}: {exc}"
            self._keep_evidence(checkpoint.origin, held, body, reason)
            raise InconsistentError(reason) from exc

    def _record(self, checkpoint: Checkpoint, note: Note, held: Held | None) -> None:
        values = {"size": checkpoint.size, "root": checkpoint.root, "note": note.encode()}
        if held is None:  # the first checkpoint of this log: the origin's key says who came first
            recorded = _inserted(self.engine, witness_logs.insert().values(origin=checkpoint.origin, **values))
        else:
            # Compare-and-set on what was checked: the record never moves but forward.
            with self.engine.begin() as conn:
                updated = conn.execute(
                    witness_logs.update()
                    .where(witness_logs.c.origin == checkpoint.origin)
                    .where(witness_logs.c.size == held.size)
                    .where(witness_logs.c.root == held.root)
                    .values(**values)
                )
            recorded = updated.rowcount == 1
        if not recorded:
            now = self.held(checkpoint.origin)
            size = now.size if now else 0
            raise SizeConflictError(f"the witness moved to size {size} while checking this request", size)

    def _keep_evidence(self, origin: str, held: Held, body: bytes, reason: str) -> None:
        checkpoint = AddCheckpoint.parse(body).checkpoint
        # Unique per checkpoint: a refused checkpoint sent again adds nothing; its first request is the evidence.
        _inserted(
            self.engine,
            witness_evidence.insert().values(
                origin=origin,
                received_at=int(self.clock()),
                checkpoint_sha256=hashlib.sha256(parse(checkpoint).text.encode()).digest(),
                held_note=held.note,
                request=body.decode(),
                reason=reason,
            ),
        )


def _inserted(engine: Engine, insert: sa.Insert) -> bool:
    """Run ``insert`` in a transaction of its own; False if a unique key already holds such a row."""
    try:
        with engine.begin() as conn:
            conn.execute(insert)
    except IntegrityError:
        return False
    return True


def _held(conn: Connection, origin: str) -> Held | None:
    row = conn.execute(sa.select(witness_logs).where(witness_logs.c.origin == origin)).one_or_none()
    return None if row is None else Held(row.size, row.root, row.note)


def cosignatures(response: str, checkpoint: str, witnesses: Sequence[VerifierKey]) -> Note:
    """Return ``checkpoint`` with the valid cosignatures of ``witnesses`` from an add-checkpoint answer.

    C2SP tlog-witness: "the client MAY concatenate it to the checkpoint, and use a note
    verification function configured with the witness keys it trusts". Lines by other keys
    are dropped; a line by a trusted witness that does not verify raises :class:`NoteError`.
    """
    combined = parse(checkpoint + response)
    verified = open_note(combined, witnesses)
    ids = {(k.name, k.key_id) for k in verified.verified_by}
    base = parse(checkpoint)
    return base.with_signatures(s for s in combined.signatures if (s.name, s.key_id) in ids)
