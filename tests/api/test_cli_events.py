"""The CLI's event verbs: the whole life of a credit from a shell, locally and over HTTP."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from ledger import b64, canonical
from ledger.database import create_engine
from ledger.dsse import Envelope
from ledger.keys import SignerKey
from registry import queries
from registry.node import open_node
from registry.vocabulary import BlockStatus
from tests.servers import serving

runner = CliRunner()

SUPPLIER, VERIFIER, CITY = "biochar-fi", "verifier-nordic", "turku"
PROJECT = "fi-biochar-1"


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    output: str
    """stdout and stderr, whitespace collapsed (rich wraps long lines)."""

    @property
    def answer(self) -> dict[str, Any]:
        """The one JSON line an accepted event prints on stdout."""
        assert self.code == 0, self.output
        lines = self.stdout.splitlines()
        assert len(lines) == 1, self.stdout
        answer: dict[str, Any] = json.loads(lines[0])
        return answer


def _run(*args: str | Path) -> Outcome:
    result = runner.invoke(app, [str(a) for a in args])
    return Outcome(result.exit_code, result.stdout, " ".join(result.output.split()))


@dataclass(frozen=True)
class Shell:
    """A registry made with `registry init`, and key files for its parties made with `registry keygen`."""

    root: Path
    database_url: str
    keys: dict[str, Path]

    def submit(self, verb: str, *args: str | Path, signers: tuple[str, ...]) -> Outcome:
        target = ("--data-dir", self.root, "--database-url", self.database_url)
        keys = [arg for signer in signers for arg in ("--key", self.keys[signer])]
        return _run(verb, *args, *keys, *target)

    def log_size(self) -> int:
        node = open_node(self.root, database_url=self.database_url)
        try:
            return node.latest_checkpoint().size
        finally:
            node.close()

    def query(self, read: Any, *args: Any, **kwargs: Any) -> Any:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return read(conn, *args, **kwargs)
        finally:
            engine.dispose()


def _keygen(directory: Path, name: str) -> Path:
    """Write NAME.key and, from what keygen prints, NAME.vkey."""
    outcome = _run("keygen", "--name", name, "--out", directory / f"{name}.key")
    assert outcome.code == 0, outcome.output
    (directory / f"{name}.vkey").write_text(outcome.stdout)
    return directory / f"{name}.key"


def _shell(tmp_path: Path, database_url: str) -> Shell:
    root = tmp_path / "registry"
    outcome = _run("init", "--data-dir", root, "--database-url", database_url)
    assert outcome.code == 0, outcome.output
    keys = {"operator": root / "keys" / "operator.key"}
    keys |= {name: _keygen(tmp_path, name) for name in (SUPPLIER, VERIFIER, CITY)}
    return Shell(root, database_url, keys)


def _open_accounts(shell: Shell) -> list[int]:
    """Open the supplier (private key file), the verifier (public key file) and the city (base64 key)."""
    city_key = b64.encode(SignerKey.parse(shell.keys[CITY].read_text()).verifier.public_key)
    boundary = hashlib.sha256(b"turku boundary geojson").hexdigest()
    answers = [
        shell.submit(
            "open-account",
            *("--account", SUPPLIER, "--role", "supplier", "--name", "Varsinais-Suomi Biochar Oy"),
            *("--key-file", shell.keys[SUPPLIER]),
            signers=("operator",),
        ).answer,
        shell.submit(
            "open-account",
            *("--account", VERIFIER, "--role", "verifier", "--name", "Nordic Carbon Verification Oy"),
            *("--key-file", shell.keys[VERIFIER].with_suffix(".vkey")),
            signers=("operator",),
        ).answer,
        shell.submit(
            "open-account",
            *("--account", CITY, "--role", "city", "--name", "City of Turku", "--public-key", city_key),
            *("--country", "FI", "--subdivision", "FI-19", "--municipality", "853"),
            *("--boundary-sha256", boundary, "--boundary-description", "Administrative boundary of Turku"),
            signers=("operator",),
        ).answer,
    ]
    assert all(a["type"] == "account" and a["duplicate"] is False for a in answers)
    return [a["index"] for a in answers]


def _register_and_issue(shell: Shell, report: Path, quantity: int) -> int:
    project = shell.submit(
        "register-project",
        *("--project", PROJECT, "--supplier", SUPPLIER, "--name", "Biochar from forest residues, Salo"),
        *("--method", "biochar", "--unit-type", "permanent-removal"),
        *("--country", "FI", "--subdivision", "FI-19", "--latitude", "60.3833", "--longitude", "23.1250"),
        *("--methodology", "CRCF biochar methodology", "--scheme", "CRCF (Regulation (EU) 2024/3012)"),
        signers=(SUPPLIER,),
    ).answer
    assert project["type"] == "project"
    issued = shell.submit(
        "issue",
        *("--project", PROJECT, "--supplier", SUPPLIER, "--verifier", VERIFIER),
        *("--start", "2028-01-01", "--end", "2028-12-31", "--vintage", "2028", "--quantity", str(quantity)),
        *("--report", report),
        signers=(SUPPLIER, VERIFIER),
    ).answer
    assert issued["type"] == "issuance"
    assert issued["index"] == project["index"] + 1
    return int(issued["index"])


def test_the_whole_life_of_a_credit_from_the_shell(tmp_path: Path, database_cli_url: str) -> None:
    shell = _shell(tmp_path, database_cli_url)
    assert _open_accounts(shell) == [1, 2, 3]
    report = tmp_path / "verification-report.pdf"
    report.write_bytes(b"%PDF-1.7 verification of 1000 t of biochar removals, 2028")
    issued_at = _register_and_issue(shell, report, 1000)
    assert issued_at == 5
    serial = shell.query(queries.batch_issued_at, issued_at)
    assert shell.query(queries.batch, serial.batch)["report_sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    assert (serial.first, serial.last) == (1, 1000)

    sold = serial.sub(1, 600)
    sale = shell.submit(
        "sell",
        *("--from", SUPPLIER, "--to", CITY, "--serial", str(sold), "--price", "90000.00", "--currency", "EUR"),
        signers=(SUPPLIER,),
    ).answer
    back = serial.sub(501, 600)
    transfer = shell.submit(
        "transfer", *("--from", CITY, "--to", SUPPLIER, "--serial", str(back)), signers=(CITY,)
    ).answer
    retired = serial.sub(1, 300)
    receipt = tmp_path / "retirement.tlog-proof"
    retirement = shell.submit(
        "retire",
        *("--holder", CITY, "--serial", str(retired), "--beneficiary", CITY, "--year", "2029"),
        *("--purpose", "compensation of residual emissions", "--jurisdiction", "FI-19-853"),
        *("--receipt", receipt, "--id", "turku-2029-1"),
        signers=(CITY,),
    ).answer
    assert [(a["index"], a["type"]) for a in (sale, transfer, retirement)] == [
        (6, "sale"),
        (7, "transfer"),
        (8, "retirement"),
    ]
    assert retirement["id"] == "turku-2029-1"
    claim = shell.submit(
        "claim", *("--city", CITY, "--retirement", "8", "--serial", str(retired), "--year", "2029"), signers=(CITY,)
    ).answer
    assert (claim["index"], claim["type"]) == (9, "claim")
    again = shell.submit(
        "claim", *("--city", CITY, "--retirement", "8", "--serial", str(retired), "--year", "2029"), signers=(CITY,)
    )
    assert again.code == 1 and f"refused: serials {retired} were claimed by 'turku' at log index 9" in again.output
    assert shell.log_size() == 10

    held = shell.query(queries.holdings, CITY, status=BlockStatus.HELD, after=None, limit=100)
    assert held["total"] == 200
    assert [b["serial"] for b in held["items"]] == [str(serial.sub(301, 500))]
    city_retired = shell.query(queries.holdings, CITY, status=BlockStatus.RETIRED, after=None, limit=100)
    assert city_retired["total"] == 300
    supplier = shell.query(queries.holdings, SUPPLIER, status=BlockStatus.HELD, after=None, limit=100)
    assert supplier["total"] == 500
    claims = shell.query(queries.retirement_list, beneficiary=CITY, holder=None, after=None, limit=100)["items"]
    assert [(c["index"], c["serial"], c["period"]["year"], c["jurisdiction"]) for c in claims] == [
        (8, str(retired), 2029, "FI-19-853")
    ]
    account = shell.query(queries.account, CITY)
    assert account["jurisdiction"] == {"country": "FI", "subdivision": "FI-19", "municipality": "853"}

    verified = _run("verify-receipt", receipt, "--vkey", shell.root / "log.vkey")
    assert verified.code == 0, verified.output
    assert "included in localhost/carbon-registry at size 9" in verified.output  # as the retirement was logged
    audit = _run("audit", "--data-dir", shell.root, "--database-url", shell.database_url)
    assert audit.code == 0, audit.output
    assert "audit passed: 10 entries" in audit.output


def test_resubmitting_with_the_same_id_is_a_duplicate(tmp_path: Path, database_cli_url: str) -> None:
    shell = _shell(tmp_path, database_cli_url)
    args = ("--account", "steel-buyer", "--role", "buyer", "--name", "Pohjola Steel Oyj", "--id", "steel-1")
    key = ("--key-file", shell.keys[SUPPLIER])
    first = shell.submit("open-account", *args, *key, signers=("operator",)).answer
    again = shell.submit("open-account", *args, *key, signers=("operator",)).answer
    assert first == {"index": 1, "id": "steel-1", "type": "account", "duplicate": False}
    assert again == {"index": 1, "id": "steel-1", "type": "account", "duplicate": True}
    assert shell.log_size() == 2

    changed = shell.submit("open-account", *args[:-3], "Another name", "--id", "steel-1", *key, signers=("operator",))
    assert changed.code == 1
    assert "refused: id: 'steel-1' was already used by a different event (log index 1)" in changed.output
    assert shell.log_size() == 2


def test_a_refused_event_exits_1_naming_the_reason_and_logs_nothing(tmp_path: Path, database_cli_url: str) -> None:
    shell = _shell(tmp_path, database_cli_url)
    _open_accounts(shell)
    report = tmp_path / "report.txt"
    report.write_text("verification report")
    serial = shell.query(queries.batch_issued_at, _register_and_issue(shell, report, 100))
    size = shell.log_size()
    assert size == 6

    stolen = shell.submit("transfer", "--from", CITY, "--to", SUPPLIER, "--serial", str(serial), signers=(CITY,))
    assert stolen.code == 1
    assert stolen.stdout == ""
    assert f"refused: serials {serial} are not held by 'turku': they are held by 'biochar-fi'" in stolen.output

    unverified = shell.submit(
        "issue",
        *("--project", PROJECT, "--supplier", SUPPLIER, "--verifier", VERIFIER, "--vintage", "2028"),
        *("--start", "2028-01-01", "--end", "2028-12-31", "--quantity", "50", "--report-sha256", "ab" * 32),
        signers=(SUPPLIER,),
    )
    assert unverified.code == 1
    assert "refused: the event needs a signature of account 'verifier-nordic', and has none" in unverified.output

    invalid = shell.submit(
        "retire",
        *("--holder", SUPPLIER, "--serial", str(serial), "--beneficiary-name", "Pohjola Steel Oyj"),
        *("--purpose", "voluntary", "--jurisdiction", "FI", "--start", "2029-12-31", "--end", "2029-01-01"),
        signers=(SUPPLIER,),
    )
    assert invalid.code == 1
    assert "refused: period.end: 2029-01-01 is before start 2029-12-31" in invalid.output

    both = shell.submit(
        "retire",
        *("--holder", SUPPLIER, "--serial", str(serial), "--beneficiary", CITY, "--beneficiary-name", "Turku"),
        *("--purpose", "compensation", "--jurisdiction", "FI", "--year", "2029"),
        signers=(SUPPLIER,),
    )
    assert both.code == 1
    assert "give exactly one of --beneficiary or --beneficiary-name" in both.output

    nowhere = _run("transfer", "--from", SUPPLIER, "--to", CITY, "--serial", str(serial), "--key", shell.keys[SUPPLIER])
    assert nowhere.code == 1
    assert "give exactly one of --url or --data-dir" in nowhere.output
    assert shell.log_size() == size


def test_dry_run_prints_the_signed_envelope_and_submits_nothing(tmp_path: Path, database_cli_url: str) -> None:
    shell = _shell(tmp_path, database_cli_url)
    outcome = shell.submit(
        "open-account",
        *("--account", CITY, "--role", "city", "--name", "City of Turku", "--key-file", shell.keys[CITY]),
        *("--country", "FI", "--subdivision", "FI-19", "--municipality", "853"),
        *("--boundary-sha256", "0" * 64, "--boundary-description", "Turku", "--id", "turku-1", "--dry-run"),
        signers=("operator",),
    )
    assert outcome.code == 0, outcome.output
    envelope = Envelope.from_json(json.loads(outcome.stdout))
    operator = SignerKey.parse(shell.keys["operator"].read_text())
    assert envelope.keyids == (operator.verifier.dsse_key_id,)
    event = canonical.decode(envelope.payload)
    assert event["type"] == "account"
    assert event["registry"] == "localhost/carbon-registry"
    assert event["id"] == "turku-1"
    assert event["jurisdiction"] == {"country": "FI", "subdivision": "FI-19", "municipality": "853"}
    assert event["keys"] == [b64.encode(SignerKey.parse(shell.keys[CITY].read_text()).verifier.public_key)]
    assert shell.log_size() == 1


def test_submitting_over_http_to_a_running_server(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    assert _run("init", "--data-dir", root).code == 0
    operator_key = ("--key", root / "keys" / "operator.key")
    buyer_key = _keygen(tmp_path, "steel-buyer")
    account = ("--account", "steel-buyer", "--role", "buyer", "--name", "Pohjola Steel Oyj", "--key-file", buyer_key)
    receipt = tmp_path / "account.tlog-proof"
    with serving(create_app(open_node(root))) as url:
        opened = _run("open-account", *account, *operator_key, "--url", url, "--id", "steel-1", "--receipt", receipt)
        assert opened.answer == {"index": 1, "id": "steel-1", "type": "account", "duplicate": False}
        again = _run("open-account", *account, *operator_key, "--url", url + "/", "--id", "steel-1")
        assert again.answer == {"index": 1, "id": "steel-1", "type": "account", "duplicate": True}

        served = httpx.get(f"{url}/v1/accounts/steel-buyer").json()
        assert served["role"] == "buyer"
        assert served["opened_at"] == 1
        assert [k["keyid"] for k in served["keys"]] == [SignerKey.parse(buyer_key.read_text()).verifier.dsse_key_id]

        taken = _run("open-account", *account, *operator_key, "--url", url)
        assert taken.code == 1
        assert "refused: account: account 'steel-buyer' already exists (log index 1) (field: account)" in taken.output
        elsewhere = _run("open-account", *account, *operator_key, "--url", url, "--registry", "other.example/log")
        assert elsewhere.code == 1
        assert "refused: registry: the event is for 'other.example/log'" in elsewhere.output
        assert httpx.get(f"{url}/log/checkpoint").text.split("\n")[1] == "2"

    verified = _run("verify-receipt", receipt, "--vkey", root / "log.vkey")
    assert verified.code == 0, verified.output
    assert "included in localhost/carbon-registry at size 2" in verified.output
    closed = _run("open-account", *account, *operator_key, "--url", url)
    assert closed.code == 1
    assert f"cannot reach {url}" in closed.output


def test_key_verbs_and_cancellations(tmp_path: Path, database_cli_url: str) -> None:
    shell = _shell(tmp_path, database_cli_url)
    _open_accounts(shell)
    report = tmp_path / "report.txt"
    report.write_text("verification report")
    serial = shell.query(queries.batch_issued_at, _register_and_issue(shell, report, 100))
    second, third = _keygen(tmp_path, "biochar-fi-2"), _keygen(tmp_path, "biochar-fi-3")
    shell.keys.update(second=second, third=third)
    second_id = SignerKey.parse(second.read_text()).verifier.dsse_key_id
    third_key = b64.encode(SignerKey.parse(third.read_text()).verifier.public_key)

    bound = shell.submit(
        "bind-key", "--account", SUPPLIER, "--key-file", second.with_suffix(".vkey"), signers=("operator",)
    )
    rotated = shell.submit(
        "rotate-key",
        *("--account", SUPPLIER, "--revoke", shell.keys[SUPPLIER], "--public-key", third_key),
        signers=("operator",),
    )
    revoked = shell.submit(
        "revoke-key", *("--account", SUPPLIER, "--revoke", second_id, "--reason", "laptop lost"), signers=("operator",)
    )
    assert [(o.answer["index"], o.answer["type"]) for o in (bound, rotated, revoked)] == [
        (6, "key-binding"),
        (7, "key-rotation"),
        (8, "key-revocation"),
    ]
    keys = shell.query(queries.account, SUPPLIER)["keys"]
    assert [(k["bound_at"], k["revoked_at"]) for k in keys] == [(1, 7), (6, 8), (7, None)]

    old = shell.submit(
        "transfer", "--from", SUPPLIER, "--to", CITY, "--serial", str(serial.sub(1, 10)), signers=(SUPPLIER,)
    )
    assert old.code == 1
    assert "of account 'biochar-fi', revoked at log index 7" in old.output
    moved = shell.submit(
        "transfer", "--from", SUPPLIER, "--to", CITY, "--serial", str(serial.sub(1, 10)), signers=("third",)
    )
    assert moved.answer["index"] == 9

    corrected = shell.submit(
        "cancel",
        *("--reason", "correction", "--serial", str(serial.sub(11, 20)), "--note", "double counted"),
        signers=("operator",),
    )
    exported = shell.submit(
        "cancel",
        *("--reason", "export", "--serial", str(serial.sub(21, 30)), "--note", "moved to another registry"),
        *("--destination-registry", "registry.example/log", "--destination-account", "acme"),
        signers=("operator",),
    )
    assert [corrected.answer["index"], exported.answer["index"]] == [10, 11]
    cancelled = shell.query(queries.cancellation_list, after=None, limit=10)["items"]
    assert [(c["index"], c["reason"], c["serial"], c["destination"]) for c in cancelled] == [
        (10, "correction", str(serial.sub(11, 20)), None),
        (11, "export", str(serial.sub(21, 30)), {"registry": "registry.example/log", "account": "acme"}),
    ]
    held = shell.query(queries.holdings, SUPPLIER, status=BlockStatus.HELD, after=None, limit=100)
    assert held["total"] == 70
