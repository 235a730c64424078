"""Double counting from the outside: `registry import`, `trace`, `findings`, `audit`, and their HTTP endpoints."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import lineage_routes
from api.app import create_app
from api.cli import app
from ledger.keys import SignerKey
from registry import commands, imports
from registry.external import parse_export
from registry.node import initialise_registry, open_node
from registry.state import Applied
from tests.builders import party_key
from tests.conftest import SHARED_DATA

runner = CliRunner()
VERRA = SHARED_DATA / "registries" / "verra"


@dataclass(frozen=True)
class Registry:
    root: Path
    serial: str  # the 1,000 units of vintage 2020 issued here for Verra's VCS 1340
    issued: int  # their issuance
    retirement: int  # a retirement of ten of them
    clean_retirement: int  # a retirement from a batch that nothing touches


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, " ".join(result.output.split())


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("double-counting") / "registry"
    node, operator = initialise_registry(root)
    keys = {name: party_key(name) for name in ("supplier", "verifier", "buyer")}
    origin = node.origin

    def sign(command: commands.Command, *signers: SignerKey) -> Applied:
        return node.registry.submit(commands.sign(command, list(signers)))

    for name, role in (("supplier", "supplier"), ("verifier", "verifier"), ("buyer", "buyer")):
        opening = commands.open_account(
            origin, operator="operator", account=name, role=role, name=name, keys=[commands.public_key(keys[name])]
        )
        sign(opening, operator)
    for project, external_ids, country in (("bale", ["VCS 1340"], "ET"), ("fi-forest", [], "FI")):
        command = commands.register_project(
            origin,
            project=project,
            supplier="supplier",
            name=project,
            method="afforestation-reforestation",
            unit_type="carbon-farming-sequestration",
            location={"country": country},
            methodology="VM0015",
            scheme="VCS",
            external_ids=external_ids,
        )
        sign(command, keys["supplier"])
    serials: list[str] = []
    issued: list[int] = []
    for project in ("bale", "fi-forest"):
        command = commands.issue(
            origin,
            project=project,
            supplier="supplier",
            verifier="verifier",
            monitoring_period=("2020-01-01", "2020-12-31"),
            vintage=2020,
            quantity=1000,
            report_sha256="ab" * 32,
            expires="2040-12-31",
        )
        issued.append(sign(command, keys["supplier"], keys["verifier"]).index)
        serials.append(f"{project}.2020.{len(serials) + 1}.{1 + 1000 * len(serials)}-{1000 + 1000 * len(serials)}")
    retirements = []
    for serial in serials:
        batch_first = int(serial.rsplit(".", 1)[1].split("-")[0])
        prefix = serial.rsplit(".", 1)[0]
        moved = f"{prefix}.{batch_first}-{batch_first + 99}"
        sign(commands.transfer(origin, "supplier", "buyer", moved), keys["supplier"])
        retired = f"{prefix}.{batch_first}-{batch_first + 9}"
        command = commands.retire(
            origin, "buyer", retired, "compensation", "FI", beneficiary_name="Buyer Oy", year=2029
        )
        retirements.append(sign(command, keys["buyer"]).index)
    node.close()
    return Registry(root, serials[0], issued[0], retirements[0], retirements[1])


@pytest.fixture(scope="module")
def imported(registry: Registry) -> list[dict[str, object]]:
    code, stdout, output = cli(
        "import", "verra", VERRA / "transactions.csv", VERRA / "projects.csv", "--data-dir", registry.root
    )
    assert code == 0, output
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def client(registry: Registry, imported: object) -> Iterator[TestClient]:
    node = open_node(registry.root)
    yield TestClient(create_app(node))
    node.close()


def test_import_reports_each_file_and_is_idempotent(registry: Registry, imported: list[dict[str, object]]) -> None:
    transactions, projects = imported
    assert (transactions["kind"], transactions["rows"], transactions["records"], transactions["problems"]) == (
        "transactions",
        200,
        200,
        0,
    )
    assert (projects["kind"], projects["rows"], projects["records"]) == ("projects", 50, 50)
    parts = imports.import_commands(
        "o", "operator", parse_export("verra", (VERRA / "transactions.csv").read_bytes()), "t"
    )
    assert len(transactions["indices"]) == len(parts) > 1  # type: ignore[arg-type]  # 200 rows need parts
    code, stdout, output = cli("import", "verra", VERRA / "projects.csv", "--data-dir", registry.root)
    assert code == 0 and "already imported: nothing changed" in output
    assert json.loads(stdout)["indices"] == projects["indices"]


def test_import_names_what_is_wrong_with_bad_input(registry: Registry, tmp_path: Path) -> None:
    code, _, output = cli("import", "nowhere", VERRA / "projects.csv", "--data-dir", registry.root)
    assert code == 1 and "nowhere" in output
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    code, _, output = cli("import", "verra", odd, "--data-dir", registry.root)
    assert code == 1 and "odd.csv" in output
    code, _, output = cli("import", "verra", tmp_path / "missing.csv", "--data-dir", registry.root)
    assert code == 1 and "cannot read" in output


def test_findings_lists_the_project_issued_in_verra_too(registry: Registry, imported: list[dict[str, object]]) -> None:
    code, stdout, output = cli("findings", "--data-dir", registry.root, "--json")
    assert code == 0, output
    (finding,) = [json.loads(line) for line in stdout.splitlines()]
    assert (finding["kind"], finding["severity"], finding["project"]) == ("issued-elsewhere", "blocking", "bale")
    first_part = imported[0]["indices"][0]  # type: ignore[index]
    assert finding["evidence"] == [registry.issued, first_part]  # our issuance, Verra's row 1
    assert finding["units"] == [{"batch": 1, "first": 1, "last": 1000}]
    code, stdout, _ = cli("findings", "--data-dir", registry.root, "--kind", "retired-twice")
    assert code == 0 and stdout == ""


def test_trace_prints_the_path_as_json_and_graphml(registry: Registry) -> None:
    unit = registry.serial.rsplit(".", 1)[0] + ".5-5"
    code, stdout, output = cli("trace", unit, "--data-dir", registry.root)
    assert code == 0, output
    trace = json.loads(stdout)
    assert [(s["kind"], s["from"], s["to"]) for s in trace["steps"]] == [
        ("issuance", None, "supplier"),
        ("transfer", "supplier", "buyer"),
        ("retirement", "buyer", None),
    ]
    assert trace["steps"][-1]["index"] == registry.retirement
    assert [f["kind"] for f in trace["findings"]] == ["issued-elsewhere"]
    code, stdout, _ = cli("trace", unit, "--data-dir", registry.root, "--format", "graphml")
    assert code == 0 and stdout.startswith("<?xml")
    graph = nx.read_graphml(io.BytesIO(stdout.encode()))
    assert isinstance(graph, nx.DiGraph)
    assert list(nx.topological_sort(graph)) == [
        f"{registry.issued}.1",
        f"{registry.retirement - 1}.0",
        f"{registry.retirement}.0",
    ]
    assert graph.nodes[f"{registry.retirement}.0"]["kind"] == "retirement"
    code, _, output = cli("trace", "bale.2020.9.1-2", "--data-dir", registry.root)
    assert code == 1 and "no batch 9" in output


def test_http_trace_findings_and_the_claim_check(registry: Registry, client: TestClient) -> None:
    unit = registry.serial.rsplit(".", 1)[0] + ".5-5"
    trace = client.get(f"/v1/trace/{unit}").json()
    assert [s["index"] for s in trace["steps"]][-1] == registry.retirement
    graphml = client.get(f"/v1/trace/{unit}", headers={"accept": "application/graphml+xml"})
    assert graphml.headers["content-type"].startswith("application/graphml+xml")
    assert "<graphml" in graphml.text
    page = client.get("/v1/findings", params={"kind": "issued-elsewhere"}).json()
    assert [f["project"] for f in page["items"]] == ["bale"] and page["next"] is None
    assert client.get("/v1/findings", params={"project": "fi-forest"}).json()["items"] == []
    blocked = client.get(f"/v1/retirements/{registry.retirement}/check")
    assert blocked.status_code == 409
    assert blocked.headers["content-type"] == "application/problem+json"
    problem = blocked.json()
    assert problem["type"].endswith("blocked-by-findings")
    assert [f["kind"] for f in problem["findings"]] == ["issued-elsewhere"]
    passed = client.get(f"/v1/retirements/{registry.clean_retirement}/check")
    assert passed.status_code == 200
    assert [s["kind"] for s in passed.json()["path"]] == ["issuance", "transfer", "retirement"]


def test_http_trace_of_a_range_in_too_many_blocks_is_a_422_problem(
    registry: Registry, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = registry.serial.rsplit(".", 1)[0] + ".1-1000"  # split by the transfer and the retirement
    assert client.get(f"/v1/trace/{whole}").status_code == 200
    monkeypatch.setattr(lineage_routes, "MAX_BLOCKS", 1)
    response = client.get(f"/v1/trace/{whole}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("range-too-wide") and problem["limit"] == 1
    assert "lie in more than 1 blocks: trace a narrower range" in problem["detail"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/trace/not-a-serial", 404),
        ("/v1/trace/bale.2020.9.1-2", 404),
        ("/v1/findings?kind=no-such-kind", 422),
        ("/v1/findings?after=x", 422),
        ("/v1/findings?after=9999999999999999999.1", 422),
        ("/v1/trace/bale.2020.1.900-1100", 404),  # units 1001-1100 were never issued in batch 1
        ("/v1/retirements/0/check", 404),
        (f"/v1/imports/{'0' * 64}/problems", 404),
        ("/v1/imports/xyz/problems", 422),
    ],
)
def test_http_errors_are_problems(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_http_imports_list_every_file(client: TestClient, imported: list[dict[str, object]]) -> None:
    page = client.get("/v1/imports", params={"limit": 1}).json()
    assert page["next"] == imported[0]["indices"][0]  # type: ignore[index]
    assert [i["file_name"] for i in client.get("/v1/imports", params={"after": page["next"]}).json()["items"]] == [
        "projects.csv"
    ]
    items = client.get("/v1/imports").json()["items"]
    assert [(i["file_name"], i["records"], i["indices"]) for i in items] == [
        ("transactions.csv", 200, imported[0]["indices"]),
        ("projects.csv", 50, imported[1]["indices"]),
    ]
    sha = imported[0]["sha256"]
    assert client.get(f"/v1/imports/{sha}/problems").json()["items"] == []


def test_audit_rederives_the_findings_and_fails_on_a_void_entry(
    registry: Registry, imported: object, tmp_path: Path
) -> None:
    code, _, output = cli("audit", "--data-dir", registry.root)
    assert code == 0, output
    assert "1 double-counting finding(s) re-derived" in output and "issued-elsewhere" in output
    copy = tmp_path / "copy"
    shutil.copytree(registry.root, copy)
    node = open_node(copy)
    retire_again = commands.retire(
        node.origin,
        "buyer",
        registry.serial.rsplit(".", 1)[0] + ".1-10",
        "again",
        "FI",
        beneficiary_name="X",
        year=2030,
    )
    (forged,) = node.sequencer.append([commands.sign(retire_again, [party_key("buyer")])])  # around the registry
    node.close()
    open_node(copy).close()  # the registry reads its log when it opens: the entry is void
    code, _, output = cli("audit", "--data-dir", copy)
    assert code == 1
    assert f"void entry {forged}.0 (blocking, retired-twice)" in output
    assert f"(evidence: entries {registry.retirement}, {forged})" in output
