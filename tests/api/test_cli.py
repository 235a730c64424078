"""The `registry` command line: keys, the demo, receipts, and refusing what it must refuse."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey, VerifierKey
from registry.node import open_node

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_keygen_writes_a_private_key_and_prints_its_verifier_key(tmp_path: Path) -> None:
    code, output = _run("keygen", "--name", "auditor.example/w1", "--out", str(tmp_path / "w1.key"), "--cosigner")
    assert code == 0
    key = SignerKey.parse((tmp_path / "w1.key").read_text())
    assert key.alg == ALG_COSIGNATURE_V1
    assert VerifierKey.parse(output) == key.verifier
    assert (tmp_path / "w1.key").stat().st_mode & 0o777 == 0o600
    code, output = _run("keygen", "--name", "again", "--out", str(tmp_path / "w1.key"))
    assert code == 1
    assert "already exists" in output
    code, output = _run("keygen", "--name", "bad name", "--out", str(tmp_path / "x.key"))
    assert code == 1
    assert "key name" in output


def test_demo_refuses_to_overwrite_a_registry(tmp_path: Path) -> None:
    assert _run("demo", "--data-dir", str(tmp_path / "r"))[0] == 0
    code, output = _run("demo", "--data-dir", str(tmp_path / "r"))
    assert code == 1
    assert "refusing to replace the log key" in output


def test_serve_and_audit_need_a_data_directory(tmp_path: Path) -> None:
    code, output = _run("serve", "--data-dir", str(tmp_path / "nothing"))
    assert code == 1
    assert "not a registry data directory" in output
    code, output = _run("audit", "--data-dir", str(tmp_path / "nothing"))
    assert code == 1
    assert "verifier key" in output


def test_verify_receipt_accepts_a_served_receipt_and_refuses_a_changed_one(tmp_path: Path) -> None:
    root = tmp_path / "r"
    assert _run("demo", "--data-dir", str(root))[0] == 0
    node = open_node(root)
    receipt = TestClient(create_app(node)).get("/v1/log/entries/7/receipt").text
    good, bad = tmp_path / "good.tlog-proof", tmp_path / "bad.tlog-proof"
    good.write_text(receipt)
    lines = receipt.split("\n")
    lines[3] = ("B" if lines[3][0] != "B" else "C") + lines[3][1:]  # one character of a proof hash
    bad.write_text("\n".join(lines))
    vkey = str(root / "log.vkey")
    code, output = _run("verify-receipt", str(good), "--vkey", vkey)
    assert code == 0, output
    assert "included in localhost/carbon-registry at size 65" in output
    code, output = _run("verify-receipt", str(bad), "--vkey", vkey)
    assert code == 1
    assert "receipt does not verify" in output
