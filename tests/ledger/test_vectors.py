"""The shared RFC 9162 and signed-note vectors: every case gives its expected result."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import NoteError, ProofError
from ledger.keys import SignerKey, VerifierKey
from ledger.merkle import verify_consistency, verify_inclusion
from ledger.note import open_note, sign
from tests.conftest import SHARED_DATA

TLOG_VECTORS = SHARED_DATA / "tlog-vectors"


def _load(kind: str) -> list[Path]:
    return sorted((TLOG_VECTORS / kind).rglob("*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def test_all_196_vectors_are_present() -> None:
    assert len(_load("inclusion")) + len(_load("consistency")) == 196


@pytest.mark.parametrize("path", _load("inclusion"), ids=lambda p: str(p.relative_to(TLOG_VECTORS)))
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())

    def check() -> None:
        verify_inclusion(case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case), _b64(case["root"]))

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("path", _load("consistency"), ids=lambda p: str(p.relative_to(TLOG_VECTORS)))
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())

    def check() -> None:
        verify_consistency(case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case))

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


NOTE_CASES = json.loads((SHARED_DATA / "signed-note" / "vectors.json").read_text())["cases"]


@pytest.mark.parametrize("case", NOTE_CASES, ids=lambda c: c["name"])
def test_signed_note_vector(case: dict[str, Any]) -> None:
    vkey = VerifierKey.parse(case["vkey"])
    if case["valid"]:
        verified = open_note(case["note"], [vkey])
        assert verified.verified_by == (vkey,)
        assert verified.text == case["text"]
    else:
        with pytest.raises(NoteError):
            open_note(case["note"], [vkey])


def test_go_example_note_is_reproduced_byte_for_byte() -> None:
    case = next(c for c in NOTE_CASES if c["name"] == "go-sumdb-example")
    signer = SignerKey.parse(case["signer_key"])
    assert signer.verifier.text() == case["vkey"]
    assert signer.text() == case["signer_key"]
    assert sign(case["text"], [signer]).encode() == case["note"]
