"""Trust policies: which logs and witnesses a verifier trusts, and how many cosignatures it needs.

The file format is the Sigsum policy file (sigsum-go ``doc/policy.md``) with keys written as
C2SP signed-note verifier keys (``name+hexid+base64``) instead of raw hex::

    # comments run from '#' to the end of the line; blank lines are ignored
    log <vkey> [<url>]                       a log key (Ed25519, type 0x01); one or more
    witness <name> <vkey> [<url>]            a witness's tlog-cosignature/v1 key (type 0x04)
    group <name> all|any|<k> <member>...     at least k of its members (witnesses or groups)
    quorum <name>|none                       exactly once: what a checkpoint must satisfy

Witnesses and groups share one namespace, a name must be defined on a line before any line
that uses it (so groups cannot be circular), and ``none`` is reserved for "no cosignatures
needed". ``any`` means k = 1 and ``all`` means k = n; otherwise 1 ≤ k ≤ n.

:meth:`Policy.verify` accepts a checkpoint only if one of the policy's logs signed it (C2SP
signed-note, tlog-checkpoint) and its cosignatures satisfy the quorum. Cosignatures are
counted per witness (C2SP tlog-cosignature): a line by a key the policy does not list is
ignored, as signed-note requires, and a line that does not verify is not counted.

Errors::

    LedgerError
    ├── PolicyFormatError       the policy file is malformed (``line`` says where)
    └── CheckpointError
        └── PolicyNotMetError   a checkpoint is not signed by a listed log, or misses the quorum
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger.checkpoint import SignedCheckpoint, open_checkpoint
from ledger.errors import CheckpointError, LedgerError, NoteError
from ledger.keys import ALG_COSIGNATURE_V1, ALG_ED25519, VerifierKey
from ledger.note import Note, open_note, parse

NONE = "none"
"""The predefined quorum that needs no cosignature."""

_URL = re.compile(r"https?://\S+")
_KEY_KINDS = {
    ALG_ED25519: "an Ed25519 note key (type 0x01)",
    ALG_COSIGNATURE_V1: "a tlog-cosignature/v1 key (type 0x04)",
}


class PolicyFormatError(LedgerError):
    """A policy file is malformed. ``line`` is the 1-based line number (0 for the file as a whole)."""

    code = "bad-policy"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"policy line {line}: {reason}" if line else f"policy: {reason}")
        self.line = line
        self.reason = reason


class PolicyNotMetError(CheckpointError):
    """A checkpoint does not satisfy the policy.

    ``group`` names the group (or witness) whose requirement failed, or is ``None`` when no
    listed log signed the checkpoint; ``cosigners`` are the witnesses whose cosignatures
    verified and ``invalid`` those whose cosignature lines did not.
    """

    code = "policy-not-met"

    def __init__(
        self, message: str, *, group: str | None, cosigners: tuple[str, ...] = (), invalid: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.group = group
        self.cosigners = cosigners
        self.invalid = invalid


@dataclass(frozen=True)
class PolicyLog:
    """A log the policy trusts: its checkpoint-signing key and, optionally, where it is served."""

    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    """A witness: its name in the policy, its tlog-cosignature/v1 key and optional URL."""

    name: str
    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class Group:
    """At least ``threshold`` of ``members`` (names of witnesses or earlier groups) must act."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed trust policy. ``quorum`` is a witness or group name, or :data:`NONE`."""

    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, Group]
    quorum: str

    @classmethod
    def for_log(cls, key: VerifierKey) -> Policy:
        """The policy of an auditor who trusts one log key and needs no witness."""
        return cls((PolicyLog(key),), {}, {}, NONE)

    @classmethod
    def parse(cls, text: str) -> Policy:
        """Parse a policy file; raise :class:`PolicyFormatError` naming the line and what is wrong."""
        return _Parser().parse(text)

    def log_key(self, origin: str | None = None) -> VerifierKey:
        """The key of the log named ``origin``, or of the only log when ``origin`` is None.

        Raises :class:`PolicyFormatError` when no log, or more than one, fits.
        """
        keys = [log.key for log in self.logs if origin is None or log.key.name == origin]
        if len(keys) != 1:
            which = f"named {origin!r}" if origin is not None else "(say which with the log's origin)"
            raise PolicyFormatError(0, f"{len(keys)} log keys {which}; exactly one is needed")
        return keys[0]

    def verify(self, note_text: str | bytes) -> SignedCheckpoint:
        """Verify a checkpoint note against the policy and return it with its counted cosigners.

        Steps: (1) parse the signed note; (2) find a listed log whose key signed it and verify
        that signature and the checkpoint's origin (C2SP tlog-checkpoint); (3) check each
        cosignature line by a listed witness on its own (tlog-cosignature/v1), counting those
        that verify; (4) evaluate the quorum. Raises :class:`PolicyNotMetError` when no listed
        log signed it or the quorum is not met, :class:`CheckpointError` when it is malformed or
        the log's signature does not verify.
        """
        try:
            note = parse(note_text)  # (1)
        except NoteError as exc:
            raise CheckpointError(f"checkpoint signature: {exc}") from exc
        signed_by = {(s.name, s.key_id) for s in note.signatures}
        logs = [log.key for log in self.logs if (log.key.name, log.key.key_id) in signed_by]
        if not logs:  # (2)
            listed = ", ".join(f"{log.key.name}+{log.key.key_id:08x}" for log in self.logs)
            raise PolicyNotMetError(f"checkpoint is not signed by a log in the policy ({listed})", group=None)
        # Only the log's key is trusted here: witness lines are unknown to it and ignored.
        checkpoint = open_checkpoint(note, logs[0]).checkpoint
        cosigners, invalid = self._cosigners(note)  # (3)
        acted = frozenset(w.name for w in cosigners)
        if not self._acts(self.quorum, acted):  # (4)
            raise self._not_met(acted, tuple(invalid))
        return SignedCheckpoint(checkpoint, note, tuple(w.key for w in cosigners))

    def _cosigners(self, note: Note) -> tuple[list[PolicyWitness], list[str]]:
        by_id = {(w.key.name, w.key.key_id): w for w in self.witnesses.values()}
        valid: list[PolicyWitness] = []
        invalid: list[str] = []
        for signature in note.signatures:
            witness = by_id.get((signature.name, signature.key_id))
            if witness is None or witness in valid:
                continue  # unknown signers are ignored (C2SP signed-note); one vote per witness
            try:
                open_note(Note(note.text, (signature,)), [witness.key])
            except NoteError:
                invalid.append(witness.name)
                continue
            valid.append(witness)
        return valid, invalid

    def _acts(self, name: str, acted: frozenset[str]) -> bool:
        """Sigsum policy: a witness acts if it cosigned; a group acts if ≥ k of its members act."""
        if name == NONE:
            return True
        group = self.groups.get(name)
        if group is None:
            return name in acted
        return sum(self._acts(member, acted) for member in group.members) >= group.threshold

    def _not_met(self, acted: frozenset[str], invalid: tuple[str, ...]) -> PolicyNotMetError:
        # Walk down from the quorum to the innermost group that fails, saying how short each is.
        reasons, name = [], self.quorum
        while (group := self.groups.get(name)) is not None:
            met = [m for m in group.members if self._acts(m, acted)]
            reasons.append(
                f"group {name} needs {group.threshold} of {len(group.members)} ({', '.join(group.members)}), "
                f"{len(met)} met ({', '.join(met) or 'none'})"
            )
            failing = [m for m in group.members if not self._acts(m, acted) and m in self.groups]
            if not failing:
                break
            name = failing[0]
        if name not in self.groups:
            reasons.append(f"witness {name} did not cosign")
        signed = ", ".join(sorted(acted)) or "none"
        bad = f"; cosignatures that do not verify: {', '.join(invalid)}" if invalid else ""
        return PolicyNotMetError(
            f"checkpoint does not meet the policy's quorum: {'; '.join(reasons)} "
            f"(valid cosignatures from {len(acted)} witness(es): {signed}{bad})",
            group=name,
            cosigners=tuple(sorted(acted)),
            invalid=invalid,
        )


class _Parser:
    """Reads a policy line by line, in order, as the Sigsum format requires."""

    def __init__(self) -> None:
        self.logs: list[PolicyLog] = []
        self.witnesses: dict[str, PolicyWitness] = {}
        self.groups: dict[str, Group] = {}
        self.quorum: str | None = None
        self.keys: dict[tuple[str, int], int] = {}  # (name, key id) → the line that listed it

    def parse(self, text: str) -> Policy:
        for number, raw in enumerate(text.splitlines(), 1):
            fields = raw.split("#", 1)[0].split()
            if not fields:
                continue
            keyword, args = fields[0], fields[1:]
            if keyword == "log":
                self._log(number, args)
            elif keyword == "witness":
                self._witness(number, args)
            elif keyword == "group":
                self._group(number, args)
            elif keyword == "quorum":
                self._quorum(number, args)
            else:
                raise PolicyFormatError(number, f"unknown keyword {keyword!r} (expected log, witness, group or quorum)")
        if not self.logs:
            raise PolicyFormatError(0, "no 'log' line: the policy must name at least one log key")
        if self.quorum is None:
            raise PolicyFormatError(0, "no 'quorum' line (write 'quorum none' to require no cosignatures)")
        return Policy(tuple(self.logs), self.witnesses, self.groups, self.quorum)

    def _log(self, number: int, args: list[str]) -> None:
        if not 1 <= len(args) <= 2:
            raise PolicyFormatError(number, "expected 'log <vkey> [<url>]'")
        key = self._key(number, args[0], ALG_ED25519, "log")
        self.logs.append(PolicyLog(key, self._url(number, args[1:])))

    def _witness(self, number: int, args: list[str]) -> None:
        if not 2 <= len(args) <= 3:
            raise PolicyFormatError(number, "expected 'witness <name> <vkey> [<url>]'")
        name = self._new_name(number, args[0])
        key = self._key(number, args[1], ALG_COSIGNATURE_V1, "witness")
        self.witnesses[name] = PolicyWitness(name, key, self._url(number, args[2:]))

    def _group(self, number: int, args: list[str]) -> None:
        if len(args) < 3:
            raise PolicyFormatError(number, "expected 'group <name> all|any|<k> <member>...'")
        name = self._new_name(number, args[0])
        members = tuple(args[2:])
        for member in members:
            self._known(number, member)
        if len(set(members)) != len(members):
            duplicate = next(m for m in members if members.count(m) > 1)
            raise PolicyFormatError(number, f"group {name} lists member {duplicate} twice")
        self.groups[name] = Group(name, self._threshold(number, args[1], len(members)), members)

    def _quorum(self, number: int, args: list[str]) -> None:
        if len(args) != 1:
            raise PolicyFormatError(number, "expected 'quorum <name>' or 'quorum none'")
        if self.quorum is not None:
            raise PolicyFormatError(number, "a second 'quorum' line: the policy must have exactly one")
        if args[0] != NONE:
            self._known(number, args[0])
        self.quorum = args[0]

    def _key(self, number: int, text: str, alg: int, role: str) -> VerifierKey:
        try:
            key = VerifierKey.parse(text)
        except LedgerError as exc:
            raise PolicyFormatError(number, f"{role} key: {exc}") from None
        if key.alg != alg:
            wanted = (
                "an Ed25519 note key (type 0x01)" if alg == ALG_ED25519 else "a tlog-cosignature/v1 key (type 0x04)"
            )
            raise PolicyFormatError(number, f"{role} key {key.name} must be {wanted}, not type {key.alg:#04x}")
        earlier = self.keys.setdefault((key.name, key.key_id), number)
        if earlier != number:
            raise PolicyFormatError(number, f"key {key.name}+{key.key_id:08x} is already listed on line {earlier}")
        return key

    def _new_name(self, number: int, name: str) -> str:
        if name == NONE:
            raise PolicyFormatError(number, f"{NONE!r} is reserved and cannot name a witness or group")
        if name in self.witnesses or name in self.groups:
            raise PolicyFormatError(number, f"duplicate name {name!r}: witnesses and groups share one namespace")
        return name

    def _known(self, number: int, name: str) -> None:
        if name not in self.witnesses and name not in self.groups:
            raise PolicyFormatError(number, f"unknown member {name!r}: define it on an earlier line")

    @staticmethod
    def _threshold(number: int, text: str, members: int) -> int:
        if text == "all":
            return members
        if text == "any":
            return 1
        if not re.fullmatch(r"[0-9]+", text):
            raise PolicyFormatError(number, f"group threshold {text!r} must be all, any or a number")
        k = int(text)
        if not 1 <= k <= members:
            raise PolicyFormatError(
                number, f"group threshold {k} is out of range: 1 to {members} for {members} members"
            )
        return k

    @staticmethod
    def _url(number: int, args: Iterable[str]) -> str | None:
        for url in args:
            if not _URL.fullmatch(url):
                raise PolicyFormatError(number, f"{url!r} is not an http(s) URL")
            return url
        return None
