"""The explorer's pages — ``/``, ``/projects``, ``/projects/{id}``, ``/batches/{n}``, ``/findings`` — against the
JSON API on the demo registry (with one overlapping issuance added, so that findings come in two kinds).

Values are read from the HTML and compared with what the JSON API serves for the same registry.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.web.home import witness_rows
from ledger.checkpoint import open_checkpoint
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.note import sign
from registry import commands, overview
from registry.demo import build_demo
from registry.node import Node
from registry.schema import claims

Json = dict[str, Any]
PROJECT_ROW = re.compile(r'<th scope="row"><a href="/projects/([^"]+)">')
TRACE_LINK = re.compile(r'<a href="/trace/([^"]+)"><code>([^<]+)</code></a>')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, module_database_cli_url: str) -> Iterator[Node]:
    """The demo registry, with fi-biochar-1 issued a second time for 2028 (an overlapping issuance)."""
    root = tmp_path_factory.mktemp("explorer") / "registry"
    demo = build_demo(root, database_url=module_database_cli_url)
    keys = [SignerKey.parse((root / "keys" / f"{name}.key").read_text()) for name in ("biochar-fi", "verifier-nordic")]
    again = commands.issue(
        demo.origin,
        project="fi-biochar-1",
        supplier="biochar-fi",
        verifier="verifier-nordic",
        monitoring_period=("2028-06-01", "2028-12-31"),
        vintage=2028,
        quantity=500,
        report_sha256="ab" * 32,
    )
    demo.registry.submit(commands.sign(again, keys))
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(node: Node) -> TestClient:
    return TestClient(create_app(node))


def _html(client: TestClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.text)
    assert response.headers["content-type"].startswith("text/html"), url
    text: str = response.text
    assert text.count("<h1>") == 1 and '<html lang="en">' in text
    return text


def _json(client: TestClient, url: str) -> Json:
    response = client.get(url)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def _figure(text: str, name: str) -> int:
    match = re.search(rf'<dd id="{name}">([^<]+)</dd>', text)
    assert match is not None, name
    return int(match[1].replace("\u202f", ""))


def _walk(client: TestClient, url: str, pattern: re.Pattern[str]) -> tuple[list[Any], int]:
    """Every match of ``pattern`` on the page at ``url`` and the pages its next links lead to; and the page count."""
    found: list[Any] = []  # what findall gives: strings, or tuples of a pattern's groups
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        text = _html(client, next_url)
        pages += 1
        found += pattern.findall(text)
        link = NEXT.search(text)
        next_url = html.unescape(link[1]) if link else None
    return found, pages


def _batches(client: TestClient) -> list[Json]:
    projects = _json(client, "/v1/projects?limit=1000")["items"]
    numbers = [n for p in projects for n in _json(client, f"/v1/projects/{p['id']}")["batches"]]
    return [_json(client, f"/v1/batches/{n}") for n in numbers]


def test_home_totals_equal_the_json_apis_figures(client: TestClient, node: Node) -> None:
    text = _html(client, "/")
    batches = _batches(client)
    assert _figure(text, "issued") == sum(b["quantity"] for b in batches)
    for status in ("held", "buffer", "retired", "cancelled"):
        assert _figure(text, status) == sum(b["supply"][status] for b in batches), status
    retirements = _json(client, "/v1/retirements?limit=1000")["items"]
    assert _figure(text, "retired") == sum(r["quantity"] for r in retirements)
    with node.engine.connect() as conn:
        claimed = sum(r.last - r.first + 1 for r in conn.execute(sa.select(claims)))
    assert claimed > 0
    assert _figure(text, "claimed") == claimed
    checkpoint = client.get("/log/checkpoint").text.split("\n")
    assert _figure(text, "size") == int(checkpoint[1])
    assert f'<code id="root">{checkpoint[2]}</code>' in text
    for link in ("/projects", "/findings", "/verify", "/log/checkpoint"):
        assert f'href="{link}"' in text


def test_home_totals_read_no_serial_block(node: Node) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(node.engine, "before_cursor_execute", seen)
    try:
        with node.engine.connect() as conn:
            totals = overview.totals(conn)
    finally:
        sa.event.remove(node.engine, "before_cursor_execute", seen)
    assert statements and not any("reg_blocks" in s for s in statements)
    assert totals.issued == totals.held + totals.buffer + totals.retired + totals.cancelled


def test_home_names_the_witnesses_that_cosigned_the_checkpoint(
    client: TestClient, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = node.served_checkpoint()
    witness = SignerKey.generate("witness.example/one", ALG_COSIGNATURE_V1)
    absent = SignerKey.generate("witness.example/two", ALG_COSIGNATURE_V1)
    cosigned = served.note.with_signatures(sign(served.note.text, [witness], timestamp=1_800_000_000).signatures)
    signed = open_checkpoint(cosigned, node.log_vkey, witnesses=[witness.verifier], quorum=1)
    monkeypatch.setattr(node, "served_checkpoint", lambda: signed)

    text = _html(client, "/")
    assert '<th scope="row">witness.example/one</th>' in text
    assert "2027-01-15 08:00:00 UTC" in text
    rows = witness_rows(signed, [witness.verifier, absent.verifier])
    assert [(r.name, r.cosigned, r.time) for r in rows] == [
        ("witness.example/one", True, "2027-01-15 08:00:00 UTC"),
        ("witness.example/two", False, None),
    ]


def test_home_without_witnesses_says_so(client: TestClient) -> None:
    assert "No witness co-signed this checkpoint" in _html(client, "/")


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("q=PEAT", {"ee-peatland-1"}, {"fi-biochar-1", "co-forest-1"}),
        ("q=orinoqu", {"co-forest-1"}, {"ee-peatland-1"}),  # by name
        ("q=-1&method=daccs", {"is-daccs-1"}, {"se-beccs-1", "fi-biochar-1"}),
        ("q=&method=&country=fi", {"fi-biochar-1", "espoo-forest-1"}, {"se-beccs-1", "is-daccs-1"}),
        ("q=%25", set(), {"fi-biochar-1"}),  # a LIKE wildcard is searched for as itself
    ],
)
def test_project_search(client: TestClient, query: str, present: set[str], absent: set[str]) -> None:
    shown = set(PROJECT_ROW.findall(_html(client, f"/projects?{query}")))
    assert present <= shown
    assert not absent & shown


@pytest.mark.parametrize(("query", "limit"), [("", 2), ("", 1), ("country=FI", 1), ("q=forest", 2)])
def test_project_pages_reach_every_project_once(client: TestClient, query: str, limit: int) -> None:
    seen, pages = _walk(client, f"/projects?{query}&limit={limit}", PROJECT_ROW)
    everything = _json(client, "/v1/projects?limit=1000")["items"]
    everything_shown = set(PROJECT_ROW.findall(_html(client, f"/projects?{query}&limit=200")))
    assert sorted(seen) == sorted(everything_shown)  # each once
    assert len(seen) == len(set(seen))
    assert pages == -(-len(seen) // limit)  # never an empty page after a full one
    if not query:
        assert sorted(seen) == sorted(p["id"] for p in everything)


def test_project_page(client: TestClient) -> None:
    project = _json(client, "/v1/projects/fi-biochar-1")
    text = _html(client, "/projects/fi-biochar-1")
    assert f"<h1>{html.escape(project['name'])}</h1>" in text
    for value in (project["method"], project["unit_type"], project["methodology"], project["location"]["country"]):
        assert html.escape(value) in text
    assert html.escape(project["scheme"]) in text
    for number in project["batches"]:
        batch = _json(client, f"/v1/batches/{number}")
        assert f'<a href="/batches/{number}">{number}</a>' in text
        assert batch["serial"] in text


def test_batch_page_shows_supply_and_where_every_block_stands(client: TestClient) -> None:
    number = _json(client, "/v1/projects/co-forest-1")["batches"][0]
    batch = _json(client, f"/v1/batches/{number}")
    blocks = _json(client, f"/v1/batches/{number}/blocks?limit=1000")["items"]
    text = _html(client, f"/batches/{number}")
    for status in ("held", "buffer", "retired", "cancelled"):
        assert _figure(text, status) == batch["supply"][status], status
    assert _figure(text, "issued") == batch["quantity"]
    assert [serial for _, serial in TRACE_LINK.findall(text)] == [b["serial"] for b in blocks]
    assert all(link == serial for link, serial in TRACE_LINK.findall(text))  # /trace/{printed serial}
    statuses = {b["status"] for b in blocks}
    assert statuses == {"held", "buffer", "retired", "cancelled"}
    assert "retired by bogota for bogota" in text
    assert "cancelled (reversal)" in text
    for b in blocks:
        assert f'href="/v1/log/entries/{b["since"]}/receipt"' in text
    paged, pages = _walk(client, f"/batches/{number}?limit=1", TRACE_LINK)
    assert [serial for _, serial in paged] == [b["serial"] for b in blocks]
    assert pages == len(blocks)


def test_findings_filtered_by_kind(client: TestClient) -> None:
    every = _json(client, "/v1/findings")["items"]
    assert {f["kind"] for f in every} == {"overlapping-issuance", "sold-counted-removal"}
    text = _html(client, "/findings")
    for finding in every:
        assert f'<th scope="row">{finding["id"]}</th>' in text
        for index in finding["evidence"]:
            assert f'href="/v1/log/entries/{index}/receipt"' in text
    filtered = _html(client, "/findings?kind=overlapping-issuance")
    assert '<option value="overlapping-issuance" selected>' in filtered
    assert "<td>overlapping-issuance</td>" in filtered and '<td class="fail">blocking</td>' in filtered
    assert "<td>sold-counted-removal</td>" not in filtered
    assert "No finding of kind retired-twice" in _html(client, "/findings?kind=retired-twice")
    ids, pages = _walk(client, "/findings?kind=&limit=1", re.compile(r'<th scope="row">([0-9.]+)</th>'))
    assert ids == [f["id"] for f in every] and pages == len(every)


def test_finding_units_link_to_their_trace(client: TestClient) -> None:
    (finding,) = _json(client, "/v1/findings?kind=sold-counted-removal")["items"]
    (units,) = finding["units"]
    text = _html(client, "/findings?kind=sold-counted-removal")
    (serial,) = [s for _, s in TRACE_LINK.findall(text)]
    assert serial.split(".")[2] == str(units["batch"]) and serial.endswith(f".{units['first']}-{units['last']}")


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/projects/no-such-project", 404, "No project &#39;no-such-project&#39;."),
        ("/batches/999999", 404, "No batch 999999."),
        ("/batches/not-a-number", 422, "<code>number</code>"),
        ("/batches/1?after=-1", 422, "<code>after</code>"),
        ("/projects?limit=0", 422, "<code>limit</code>"),
        ("/projects?country=FIN", 422, "<code>country</code>"),
        ("/projects?method=magic", 422, "<code>method</code>"),
        ("/findings?kind=magic", 422, "<code>kind</code>"),
        ("/findings?after=1", 422, "<code>after</code>"),
    ],
)
def test_errors_answer_an_html_page_naming_what_is_wrong(client: TestClient, url: str, status: int, says: str) -> None:
    text = _html(client, url, status)
    assert says in text
    assert "<h1>Not found</h1>" in text if status == 404 else "<h1>Invalid request</h1>" in text


def test_a_browser_asking_for_a_page_that_does_not_exist_gets_an_html_page(client: TestClient) -> None:
    html_accept = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for path in ("/no-such-page", "/cities/turku"):
        answer = client.get(path, headers=html_accept)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert f"There is no page at {path}." in answer.text
    # The API's addresses answer problem+json whatever the client accepts.
    api = client.get("/v1/no-such-route", headers=html_accept)
    assert (api.status_code, api.headers["content-type"]) == (404, "application/problem+json")
    assert client.get("/no-such-page").headers["content-type"] == "application/problem+json"
