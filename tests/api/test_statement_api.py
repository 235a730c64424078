"""A city's statement over HTTP: JSON, CSV, the signed bundle, and the problems of a bad request."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import city_routes
from api.app import create_app
from api.problems import PROBLEM_JSON
from ledger.checkpoint import open_checkpoint
from ledger.keys import SignerKey
from registry import commands
from registry.attestation import verify_statement
from registry.node import Node, initialise_registry
from registry.state import Applied
from tests.builders import BOUNDARY, JURISDICTION, REPORT, party_key
from tests.registry.test_balance import GROSS

CITY = "city-a"


@dataclass(frozen=True)
class CityLog:
    """A registry where city-a claimed 600 t of biochar for 2029 and counts 100 t of its own removals."""

    node: Node
    keys: dict[str, SignerKey]
    project: int
    issuance: int
    inventory: int
    retirement: int
    claim: int


def city_log(root: Path, database_url: str | None = None) -> CityLog:
    """Build the registry of :class:`CityLog` in data directory ``root``."""
    node, operator = initialise_registry(root, database_url=database_url)
    keys = {"operator": operator} | {name: party_key(name) for name in ("supplier", "verifier", CITY)}
    origin = node.origin

    def submit(command: commands.Command, *signers: str) -> int:
        applied = node.registry.submit(commands.sign(command, [keys[s] for s in signers]))
        assert isinstance(applied, Applied)
        return applied.index

    for name, role in (("supplier", "supplier"), ("verifier", "verifier"), (CITY, "city")):
        place: dict[str, Any] = {"jurisdiction": JURISDICTION, "boundary": BOUNDARY} if role == "city" else {}
        submit(
            commands.open_account(
                origin,
                operator="operator",
                account=name,
                role=role,
                name=name.title(),
                keys=[commands.public_key(keys[name])],
                **place,
            ),
            "operator",
        )
    project = submit(
        commands.register_project(
            origin,
            project="perm",
            supplier="supplier",
            name="Biochar",
            method="biochar",
            unit_type="permanent-removal",
            location={"country": "FI", "subdivision": "FI-19"},
            methodology="test methodology",
            scheme="test scheme",
        ),
        "supplier",
    )
    issued = commands.issue(
        origin,
        project="perm",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2029-01-01", "2029-12-31"),
        vintage=2029,
        quantity=1000,
        report_sha256=REPORT,
    )
    issuance = submit(issued, "supplier", "verifier")
    serial = "perm.2029.1.1-600"
    retirement = submit(
        commands.retire(origin, "supplier", serial, "compensation", "FI-19", beneficiary_account=CITY, year=2029),
        "supplier",
    )
    removal = {"method": "wetland-peatland-restoration", "durability": "permanent", "tonnes": 100}
    inventory = submit(commands.inventory(origin, CITY, 2029, emissions=GROSS, removals=[removal]), CITY)
    claim = submit(commands.claim(origin, CITY, retirement, serial, 2029), CITY)
    return CityLog(node, keys, project, issuance, inventory, retirement, claim)


@pytest.fixture
def served(tmp_path: Path, database_cli_url: str) -> Iterator[tuple[CityLog, TestClient]]:
    log = city_log(tmp_path / "registry", database_cli_url)
    yield log, TestClient(create_app(log.node))
    log.node.close()


def _problem(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["type"], body["status"]) == (f"/problems/{code}", status)
    return str(body["detail"])


def test_the_statement_as_json(served: tuple[CityLog, TestClient]) -> None:
    log, client = served
    response = client.get(f"/v1/cities/{CITY}/statement", params={"year": 2029})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert {k: body[k] for k in ("gross_emissions", "sold_credits", "in_boundary_removals", "retired_credits")} == {
        "gross_emissions": 129_000,
        "sold_credits": 0,
        "in_boundary_removals": 100,
        "retired_credits": 600,
    }
    assert (body["positive"], body["negative"], body["net"]) == (129_000, 700, 128_300)
    assert body["log_size"] == log.node.latest_checkpoint().size == log.claim + 1
    assert body["terms"]["retired_credits"]["projects"][0]["claims"] == [log.claim]


def test_the_statement_as_csv(served: tuple[CityLog, TestClient]) -> None:
    log, client = served
    response = client.get(f"/v1/cities/{CITY}/statement", params={"year": 2029}, headers={"accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    totals = {row["item"]: (row["tonnes"], row["evidence"]) for row in rows if row["section"] == "total"}
    assert totals["net"][0] == "128300"
    assert totals["gross_emissions"] == ("129000", str(log.inventory))
    cited = (log.project, log.issuance, log.retirement, log.claim)
    assert totals["retired_credits"] == ("600", " ".join(map(str, cited)))


def test_the_signed_statement_verifies_with_the_log_key(served: tuple[CityLog, TestClient]) -> None:
    log, client = served
    response = client.get(f"/v1/cities/{CITY}/statement/signed", params={"year": 2029})
    assert response.status_code == 200
    bundle = response.json()
    verified = verify_statement(bundle, log.node.log_vkey)
    assert (verified.city, verified.year, verified.size) == (CITY, 2029, log.claim + 1)
    assert verified.statement["net"] == 128_300
    assert bundle["checkpoint"] == log.node.latest_checkpoint().encode()
    assert [e["index"] for e in bundle["entries"]] == verified.statement["evidence"]


def test_a_statement_not_yet_published_answers_503(
    served: tuple[CityLog, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, client = served
    older = open_checkpoint(log.node.store.checkpoint_at(log.inventory) or "", log.node.log_vkey)
    monkeypatch.setattr(log.node, "latest_checkpoint", lambda: older)
    monkeypatch.setattr(city_routes, "PUBLISH_WAIT", 0.1)
    response = client.get(f"/v1/cities/{CITY}/statement/signed", params={"year": 2029})
    detail = _problem(response, 503, "checkpoint-pending")
    assert detail == f"the statement reflects {log.claim + 1} log entries; the log has published {log.inventory}"


def test_an_unknown_city_or_year_is_404_and_a_bad_year_422(served: tuple[CityLog, TestClient]) -> None:
    _, client = served
    for path in ("/v1/cities/nowhere/statement", "/v1/cities/nowhere/statement/signed"):
        assert _problem(client.get(path, params={"year": 2029}), 404, "city-not-found") == "no city account 'nowhere'"
    assert _problem(client.get("/v1/cities/supplier/statement", params={"year": 2029}), 404, "city-not-found") == (
        "no city account 'supplier'"
    )
    no_inventory = client.get(f"/v1/cities/{CITY}/statement/signed", params={"year": 2030})
    assert _problem(no_inventory, 404, "inventory-not-found") == "'city-a' has no inventory for 2030"
    for params in ({}, {"year": 1899}, {"year": 2201}, {"year": "soon"}):
        detail = _problem(client.get(f"/v1/cities/{CITY}/statement", params=params), 422, "invalid-request")
        assert detail == "invalid field(s): query.year"
