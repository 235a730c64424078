"""The CLI's city verbs: `inventory`, `policy`, `statement` and `verify-statement`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from api.cli import app
from tests.api.test_statement_api import CITY, CityLog, city_log
from tests.builders import party_key

runner = CliRunner()


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    output: str
    """stdout and stderr, whitespace collapsed (rich wraps long lines)."""
    raw: bytes
    """stdout as written (the runner's text turns CRLF into LF)."""

    @property
    def answer(self) -> dict[str, Any]:
        assert self.code == 0, self.output
        answer: dict[str, Any] = json.loads(self.stdout)
        return answer


def run(*args: str | Path) -> Outcome:
    result = runner.invoke(app, [str(a) for a in args])
    return Outcome(result.exit_code, result.stdout, " ".join(result.output.split()), result.stdout_bytes)


@dataclass(frozen=True)
class Shell:
    log: CityLog
    root: Path
    database_url: str
    city_key: Path

    @property
    def target(self) -> tuple[str | Path, ...]:
        return ("--data-dir", self.root, "--database-url", self.database_url)

    def inventory(self, tmp_path: Path, lines: dict[str, Any], *args: str | int) -> Outcome:
        file = tmp_path / "lines.json"
        file.write_text(json.dumps(lines))
        options = [str(a) for a in args]
        return run("inventory", CITY, "--file", file, *options, "--key", self.city_key, *self.target)

    def statement(self, *args: str) -> Outcome:
        return run("statement", CITY, "--year", "2029", *args, *self.target)


def shell(tmp_path: Path, database_url: str) -> Shell:
    root = tmp_path / "registry"
    log = city_log(root, database_url)
    log.node.close()
    key = tmp_path / f"{CITY}.key"
    key.write_text(party_key(CITY).text() + "\n")
    return Shell(log, root, database_url, key)


EMISSIONS = [{"sector": "transport", "scope": 1, "tonnes": 7_000}, {"sector": "waste", "scope": 3, "notation": "NE"}]
REMOVALS = [{"method": "wetland-peatland-restoration", "durability": "permanent", "tonnes": 100}]


def test_inventories_from_the_shell_and_the_statement_in_three_formats(tmp_path: Path, database_cli_url: str) -> None:
    sh = shell(tmp_path, database_cli_url)
    base_lines = {"emissions": [{"sector": "transport", "scope": 1, "tonnes": 10_000}]}
    base = sh.inventory(tmp_path, base_lines, "--year", 1990, "--base-year")
    assert base.answer["type"] == "inventory"
    assert base.answer["index"] == sh.log.claim + 1
    revised = sh.inventory(
        tmp_path,
        {"emissions": EMISSIONS, "removals": REMOVALS},
        *("--year", 2029, "--gwp", "AR6", "--period", "2029-01-01", "2029-12-31", "--revises", sh.log.inventory),
    )
    assert revised.answer["index"] == base.answer["index"] + 1
    again = sh.inventory(tmp_path, {"emissions": EMISSIONS}, "--year", 2029)
    assert again.code == 1
    assert (
        f"refused: revises: 'city-a' has an inventory for 2029 at log index {revised.answer['index']}" in again.output
    )

    result = sh.statement().answer
    assert (result["gross_emissions"], result["in_boundary_removals"], result["retired_credits"]) == (7_000, 100, 600)
    assert result["net"] == 6_300
    assert result["period"] == {"start": "2029-01-01", "end": "2029-12-31"}
    assert result["gwp"] == "AR6"
    assert result["terms"]["gross_emissions"]["evidence"] == [revised.answer["index"]]
    assert [w["code"] for w in result["warnings"]] == ["not-estimated"]
    compensation = result["shares"]["compensation_of_base_year"]
    assert (compensation["base_year"], compensation["of"], compensation["percent"]) == (1990, 10_000, "7.00")
    assert compensation["evidence"] == [base.answer["index"]]

    table = sh.statement("--format", "csv")
    assert table.code == 0, table.output
    assert table.raw.startswith(b"section,item,scope,tonnes,percent,code,message,evidence\r\n")
    assert table.raw.count(b"\n") == table.raw.count(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(table.raw.decode(), newline="")))
    assert [(r["item"], r["tonnes"]) for r in rows if r["section"] == "total"][-3:] == [
        ("positive", "7000"),
        ("negative", "700"),
        ("net", "6300"),
    ]

    signed = sh.statement("--format", "signed").answer
    assert signed["statement"] == result
    assert signed["note"].startswith(f"carbon-registry/net-emissions-statement/v1\nlocalhost/carbon-registry\n{CITY}\n")

    assert sh.statement("--format", "xml").code == 1
    nowhere = run("statement", "nowhere", "--year", "2029", *sh.target)
    assert nowhere.code == 1 and "no city account 'nowhere'" in nowhere.output
    assert run("statement", CITY, "--year", "1800", *sh.target).code == 2  # out of range: a usage error


def test_an_inventory_file_that_is_not_lines_is_refused(tmp_path: Path, database_cli_url: str) -> None:
    sh = shell(tmp_path, database_cli_url)
    wrong = sh.inventory(tmp_path, {"lines": EMISSIONS}, "--year", 2030)
    assert wrong.code == 1
    assert 'must hold an object {"emissions": [...], "removals": [...]}' in wrong.output
    bad_line = sh.inventory(tmp_path, {"emissions": [{"sector": "shipping", "scope": 1, "tonnes": 1}]}, "--year", 2030)
    assert bad_line.code == 1 and "refused: emissions.0.sector" in bad_line.output


def test_policy_sets_and_clears_the_retirement_window(tmp_path: Path, database_cli_url: str) -> None:
    sh = shell(tmp_path, database_cli_url)
    operator = ("--key", sh.root / "keys" / "operator.key")
    window = run("policy", "--retirement-window-days", "365", *operator, *sh.target, "--dry-run")
    assert window.code == 0, window.output
    envelope = json.loads(window.stdout)
    assert envelope["payloadType"] == "application/vnd.carbon-registry.statement+json"
    set_ = run("policy", "--retirement-window-days", "365", *operator, *sh.target).answer
    cleared = run("policy", "--retirement-window-days", "none", *operator, *sh.target).answer
    assert [(a["index"], a["type"]) for a in (set_, cleared)] == [
        (sh.log.claim + 1, "policy"),
        (sh.log.claim + 2, "policy"),
    ]
    soon = run("policy", "--retirement-window-days", "soon", *operator, *sh.target)
    assert soon.code == 1 and "must be a number of days or none, not 'soon'" in soon.output
    negative = run("policy", "--retirement-window-days", "-1", *operator, *sh.target)
    assert negative.code == 1 and "refused: retirement_window_days" in negative.output
    by_city = run("policy", "--retirement-window-days", "1", "--key", sh.city_key, *sh.target)
    assert by_city.code == 1 and "refused" in by_city.output


def test_verify_statement_passes_and_fails_on_a_tampered_file(tmp_path: Path, database_cli_url: str) -> None:
    sh = shell(tmp_path, database_cli_url)
    bundle = sh.statement("--format", "signed").answer
    file = tmp_path / "statement.json"
    file.write_text(json.dumps(bundle))

    size = sh.log.claim + 1
    verified = run("verify-statement", file, "--vkey", sh.root / "log.vkey")
    assert verified.code == 0, verified.output
    assert f"ok checkpoint: signed by the log localhost/carbon-registry, tree size {size}" in verified.output
    assert f"ok entries: {len(bundle['entries'])} entries, each included in the tree of size {size}" in verified.output
    assert verified.output.endswith(
        f"statement verified: city-a 2029, net 128300 t, in localhost/carbon-registry at size {size}"
    )
    by_dir = run("verify-statement", file, "--data-dir", sh.root)
    assert by_dir.code == 0 and "statement verified" in by_dir.output
    vkey_text = (sh.root / "log.vkey").read_text().strip()
    assert run("verify-statement", file, "--vkey", vkey_text).code == 0

    bundle["statement"]["retired_credits"] = 6_000
    file.write_text(json.dumps(bundle))
    tampered = run("verify-statement", file, "--vkey", sh.root / "log.vkey")
    assert tampered.code == 1
    assert tampered.output == (
        "statement does not verify: note: its sha256 does not match the statement: the statement was altered"
    )

    bundle = sh.statement("--format", "signed").answer
    bundle["entries"] = bundle["entries"][1:]
    file.write_text(json.dumps(bundle))
    missing = run("verify-statement", file, "--vkey", sh.root / "log.vkey")
    assert missing.code == 1
    assert missing.output == (
        f"statement does not verify: entries: entry {bundle['statement']['evidence'][0]}, "
        "which the statement cites, is missing"
    )

    impostor = run("keygen", "--name", "localhost/carbon-registry", "--out", tmp_path / "impostor.key")
    assert impostor.code == 0, impostor.output
    wrong_key = run("verify-statement", file, "--vkey", impostor.stdout.strip())  # the log's name, not its key
    assert wrong_key.code == 1
    assert wrong_key.output == (
        "statement does not verify: checkpoint: checkpoint signature: note is not signed by any trusted key"
    )
    neither = run("verify-statement", file)
    assert neither.code == 1 and "give exactly one of --vkey or --data-dir" in neither.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    unreadable = run("verify-statement", garbage, "--data-dir", sh.root)
    assert unreadable.code == 1 and f"cannot read {garbage}" in unreadable.output
