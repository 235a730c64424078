"""Trust policies (Sigsum policy format with C2SP vkeys): parsing errors and quorum decisions on real notes."""

from __future__ import annotations

import pytest

from ledger.checkpoint import Checkpoint
from ledger.errors import CheckpointError
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.merkle import EMPTY_ROOT
from ledger.note import NoteSignature, sign
from ledger.trust_policy import NONE, Policy, PolicyFormatError, PolicyNotMetError

ORIGIN = "example.org/log"
LOG = SignerKey.generate(ORIGIN)
OTHER_LOG = SignerKey.generate("example.org/other-log")
WITNESSES = {name: SignerKey.generate(f"witness.example/{name}", ALG_COSIGNATURE_V1) for name in "ABCDE"}
CHECKPOINT = Checkpoint(ORIGIN, 7, EMPTY_ROOT)


def _vkey(name: str) -> str:
    return WITNESSES[name].verifier.text()


def _policy(*lines: str) -> Policy:
    return Policy.parse("\n".join([f"log {LOG.verifier.text()}", *lines]) + "\n")


def _note(*cosigners: str, log: SignerKey = LOG, checkpoint: Checkpoint = CHECKPOINT) -> str:
    """A checkpoint signed by ``log`` and cosigned (tlog-cosignature/v1) by the named witnesses."""
    note = sign(checkpoint.body(), [log])
    if cosigners:
        cosigned = sign(checkpoint.body(), [WITNESSES[n] for n in cosigners], timestamp=1_700_000_000)
        note = note.with_signatures(cosigned.signatures)
    return note.encode()


TWO_LEVELS = [
    *(f"witness {n} {_vkey(n)}" for n in "ABC"),
    "group abc 2 A B C",
    *(f"witness {n} {_vkey(n)} https://{n.lower()}.witness.example" for n in "DE"),
    "group de any D E",
    "group both all abc de  # nested: two of A-C and one of D-E",
    "quorum both",
]


def test_a_policy_with_comments_blank_lines_and_urls_parses() -> None:
    policy = Policy.parse(
        "# the registry\n\n"
        f"log {LOG.verifier.text()} https://registry.example\n"
        f"witness A {_vkey('A')}   # first witness\n"
        "quorum A\n"
    )
    assert policy.logs[0].url == "https://registry.example"
    assert policy.witnesses["A"].key == WITNESSES["A"].verifier
    assert policy.quorum == "A"
    assert policy.log_key() == LOG.verifier


def test_quorum_none_accepts_a_checkpoint_with_only_the_log_signature() -> None:
    signed = _policy("quorum none").verify(_note())
    assert signed.checkpoint == CHECKPOINT
    assert signed.cosigners == ()


def test_nested_groups_accept_two_of_three_and_one_of_two() -> None:
    signed = _policy(*TWO_LEVELS).verify(_note("A", "C", "E"))
    assert {k.name for k in signed.cosigners} == {"witness.example/A", "witness.example/C", "witness.example/E"}


def test_nested_groups_name_the_inner_group_that_falls_short() -> None:
    with pytest.raises(PolicyNotMetError) as caught:
        _policy(*TWO_LEVELS).verify(_note("A", "D", "E"))
    assert caught.value.group == "abc"
    assert caught.value.cosigners == ("A", "D", "E")
    message = str(caught.value)
    assert "group both needs 2 of 2 (abc, de), 1 met (de)" in message
    assert "group abc needs 2 of 3 (A, B, C), 1 met (A)" in message


@pytest.mark.parametrize(("signers", "accepted"), [("", False), ("A", False), ("AB", True), ("BCD", True)])
def test_k_of_n(signers: str, accepted: bool) -> None:
    policy = _policy(*(f"witness {n} {_vkey(n)}" for n in "ABCD"), "group g 2 A B C D", "quorum g")
    if accepted:
        assert len(policy.verify(_note(*signers)).cosigners) == len(signers)
    else:
        with pytest.raises(PolicyNotMetError, match=f"group g needs 2 of 4 .*, {len(signers)} met"):
            policy.verify(_note(*signers))


def test_a_single_witness_quorum_says_who_did_not_cosign() -> None:
    with pytest.raises(PolicyNotMetError, match="witness A did not cosign"):
        _policy(f"witness A {_vkey('A')}", "quorum A").verify(_note())


def test_a_cosignature_by_an_unknown_key_is_ignored() -> None:
    policy = _policy(f"witness A {_vkey('A')}", f"witness B {_vkey('B')}", "group g all A B", "quorum g")
    with pytest.raises(PolicyNotMetError, match="1 met"):
        policy.verify(_note("A", "E"))  # E cosigned, but the policy does not list E
    assert len(policy.verify(_note("A", "E", "B")).cosigners) == 2


def test_a_bad_cosignature_is_not_counted() -> None:
    good = _note("A", "B")
    body, _, signatures = good.rpartition("\n\n")
    lines = signatures.splitlines()
    # Re-sign B's line over another checkpoint: a well-formed line by a known key that does not verify.
    other = sign(Checkpoint(ORIGIN, 8, EMPTY_ROOT).body(), [WITNESSES["B"]], timestamp=1_700_000_000)
    lines[2] = other.signatures[0].line().rstrip("\n")
    forged = body + "\n\n" + "\n".join(lines) + "\n"
    policy = _policy(f"witness A {_vkey('A')}", f"witness B {_vkey('B')}", "group g 2 A B", "quorum g")
    with pytest.raises(PolicyNotMetError) as caught:
        policy.verify(forged)
    assert caught.value.invalid == ("B",)
    assert "cosignatures that do not verify: B" in str(caught.value)
    assert _policy(f"witness A {_vkey('A')}", "quorum A").verify(forged).cosigners == (WITNESSES["A"].verifier,)


def test_a_witness_signing_twice_counts_once() -> None:
    note = _note("A")
    twice = note + NoteSignature(WITNESSES["A"].name, WITNESSES["A"].verifier.key_id, b"\x00" * 72).line()
    policy = _policy(f"witness A {_vkey('A')}", f"witness B {_vkey('B')}", "group g 2 A B", "quorum g")
    with pytest.raises(PolicyNotMetError, match="1 met"):
        policy.verify(twice)


def test_a_checkpoint_signed_by_a_log_not_in_the_policy_is_refused() -> None:
    foreign = Checkpoint(OTHER_LOG.name, 7, EMPTY_ROOT)
    with pytest.raises(PolicyNotMetError, match="not signed by a log in the policy") as caught:
        _policy("quorum none").verify(_note(log=OTHER_LOG, checkpoint=foreign))
    assert caught.value.group is None


def test_a_checkpoint_for_another_origin_signed_by_the_policy_log_is_refused() -> None:
    with pytest.raises(CheckpointError, match="origin"):
        _policy("quorum none").verify(sign(Checkpoint("elsewhere", 7, EMPTY_ROOT).body(), [LOG]).encode())


def test_a_bad_log_signature_is_refused() -> None:
    note = _note()
    tampered = note.replace("\n7\n", "\n70\n")
    with pytest.raises(CheckpointError, match="does not verify"):
        _policy("quorum none").verify(tampered)


def test_two_logs_each_verify_their_own_checkpoints() -> None:
    policy = Policy.parse(f"log {LOG.verifier.text()}\nlog {OTHER_LOG.verifier.text()}\nquorum none\n")
    foreign = Checkpoint(OTHER_LOG.name, 3, EMPTY_ROOT)
    assert policy.verify(_note(log=OTHER_LOG, checkpoint=foreign)).checkpoint == foreign
    assert policy.log_key(OTHER_LOG.name) == OTHER_LOG.verifier
    with pytest.raises(PolicyFormatError, match="2 log keys"):
        policy.log_key()


def test_for_log_trusts_one_key_and_needs_no_witness() -> None:
    policy = Policy.for_log(LOG.verifier)
    assert policy.quorum == NONE
    assert policy.verify(_note("A")).checkpoint == CHECKPOINT


@pytest.mark.parametrize(
    ("lines", "line", "reason"),
    [
        (["quorum X"], 2, "unknown member 'X'"),
        ([f"witness A {_vkey('A')}", "group g 2 A B", "quorum g"], 3, "unknown member 'B'"),
        ([f"witness A {_vkey('A')}", f"witness A {_vkey('B')}", "quorum A"], 3, "duplicate name 'A'"),
        ([f"witness A {_vkey('A')}", "group A any A", "quorum A"], 3, "duplicate name 'A'"),
        ([f"witness A {_vkey('A')}", f"witness B {_vkey('A')}", "quorum A"], 3, "is already listed on line 2"),
        ([f"witness A {_vkey('A')}", "group g 2 A", "quorum g"], 3, "threshold 2 is out of range: 1 to 1"),
        ([f"witness A {_vkey('A')}", "group g 0 A", "quorum g"], 3, "threshold 0 is out of range"),
        ([f"witness A {_vkey('A')}", "group g most A", "quorum g"], 3, "must be all, any or a number"),
        ([f"witness A {_vkey('A')}", "group g any A A", "quorum g"], 3, "lists member A twice"),
        ([f"witness A {_vkey('A')}", "group g any", "quorum g"], 3, "expected 'group <name>"),
        ([f"witness none {_vkey('A')}", "quorum none"], 2, "'none' is reserved"),
        ([f"witness A {LOG.verifier.text()}", "quorum A"], 2, "must be a tlog-cosignature/v1 key"),
        ([f"log {_vkey('A')}", "quorum none"], 2, "must be an Ed25519 note key"),
        (["witness A not-a-key", "quorum A"], 2, "witness key: verifier key must be name+hexid+base64"),
        ([f"witness A {_vkey('A')} ftp://x", "quorum A"], 2, "'ftp://x' is not an http(s) URL"),
        ([f"witness A {_vkey('A')} https://a x", "quorum A"], 2, "expected 'witness <name> <vkey> [<url>]'"),
        (["quorum none", "quorum none"], 3, "a second 'quorum' line"),
        (["quorum"], 2, "expected 'quorum <name>'"),
        (["cosigner A"], 2, "unknown keyword 'cosigner'"),
        ([f"witness A {_vkey('A')}"], 0, "no 'quorum' line"),
    ],
)
def test_malformed_policies_name_the_line_and_the_fault(lines: list[str], line: int, reason: str) -> None:
    with pytest.raises(PolicyFormatError) as caught:
        _policy(*lines)
    assert caught.value.line == line
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"policy line {line}:" if line else "policy:")


def test_a_policy_without_a_log_is_refused() -> None:
    with pytest.raises(PolicyFormatError, match="no 'log' line"):
        Policy.parse("quorum none\n")
