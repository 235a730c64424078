"""The statement page ``/cities/{id}/{year}`` and the trace page ``/trace/{serial}`` on the demo registry
(with fi-biochar-1 issued a second time for 2028, so that a finding touches some units), on SQLite and
PostgreSQL.

Figures are read from the HTML and from the chart's SVG and compared with the scenarios
(shared/data/cities/scenarios.md, as tests/registry/test_scenarios.py reproduces them) and with what
the JSON API serves for the same registry. The registry and the page helpers are the explorer's
(tests/api/test_web_explorer.py).
"""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.web import trace as web_trace
from registry.node import Node
from registry.schema import claims, inventories
from tests.api import test_web_explorer as explorer

Json = dict[str, Any]
node, client = explorer.node, explorer.client  # the fixtures: a registry of this module's own, built alike
_page, _json = explorer._html, explorer._json
SVG = "{http://www.w3.org/2000/svg}"
GPC_SECTORS = ("stationary-energy", "transport", "waste", "ippu", "afolu")


def _svg(text: str, kind: str) -> ET.Element:
    """The page's picture of ``kind`` (``bars`` or ``flow``), parsed as XML; it must be labelled for a screen reader."""
    match = re.search(rf'<svg [^>]*class="chart chart-{kind}".*?</svg>', text, re.DOTALL)
    assert match is not None, kind
    svg = ET.fromstring(match[0])
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title") is not None and svg.find(f"{SVG}desc") is not None
    return svg


def _tonnes(shown: str) -> int:
    return int(shown.replace("\u202f", "").removesuffix(" t"))


# --- /cities/{id}/{year} -----------------------------------------------------------------------


def test_turku_2029_shows_the_scenario_figures(client: TestClient) -> None:
    text = _page(client, "/cities/turku/2029")
    figures = dict(re.findall(r'<dd data-figure="([a-z_]+)">([^<]+)</dd>', text))
    tonnes = {k: _tonnes(v) for k, v in figures.items() if k not in {"compensation", "durable"}}
    assert tonnes == {
        "gross_emissions": 129_000,
        "sold_credits": 0,
        "in_boundary_removals": 40_000,
        "retired_credits": 89_000,
        "positive": 129_000,
        "negative": 129_000,
        "net": 0,
    }
    assert (figures["compensation"], figures["durable"]) == ("10.03%", "46.51%")
    assert "of 1\u202f286\u202f000 t in 1990" in text
    assert "29000 t of &#39;ee-peatland-1&#39; are temporary and expire on 2036-12-31" in text


def test_the_chart_has_a_bar_group_for_each_year_on_record_with_the_statements_values(
    client: TestClient, node: Node
) -> None:
    counted = sa.select(inventories.c.year).where(inventories.c.city == "turku", inventories.c.superseded_by.is_(None))
    with node.engine.connect() as conn:
        years = sorted(conn.execute(counted).scalars())
    assert years == [1990, 2029]
    chart = _svg(_page(client, "/cities/turku/2029"), "bars")
    groups = chart.findall(f".//{SVG}g[@class='group']")
    assert [g.get("data-label") for g in groups] == [str(y) for y in years]
    for year, group in zip(years, groups, strict=True):
        statement = _json(client, f"/v1/cities/turku/statement?year={year}")
        drawn: dict[tuple[str, str], int] = {
            (str(r.get("data-bar")), str(r.get("data-series"))): int(str(r.get("data-value")))
            for r in group.iter(f"{SVG}rect")
        }
        sectors = statement["terms"]["gross_emissions"]["by_sector"]
        expected = {("positive", s): sectors[s] for s in GPC_SECTORS} | {
            ("positive", "sold_credits"): statement["sold_credits"],
            ("negative", "in_boundary_removals"): statement["in_boundary_removals"],
            ("negative", "retired_credits"): statement["retired_credits"],
            ("net", "net"): statement["net"],
        }
        assert drawn == {key: value for key, value in expected.items() if value}  # a zero draws no segment
        for rect in group.iter(f"{SVG}rect"):  # every segment names its year, series and value
            title = rect.find(f"{SVG}title")
            assert title is not None and str(title.text).startswith(f"{year} · ")


def test_the_charts_numbers_are_also_a_table(client: TestClient) -> None:
    text = _page(client, "/cities/turku/2029")
    table = text[text.index("<caption>The chart's numbers") :]
    table = table[: table.index("</table>")]
    rows = {
        html.unescape(name): [_tonnes(v) for v in re.findall(r'<td class="num">([^<]+)</td>', cells)]
        for name, cells in re.findall(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', table)
    }
    assert rows["Gross emissions"] == [1_286_000, 129_000]
    assert rows["In-boundary removals"] == [0, 40_000]
    assert rows["Retired credits"] == [0, 89_000]
    assert rows["Net emissions"] == [1_286_000, 0]


def test_helsinki_2030_lists_its_warning_with_code_and_evidence(client: TestClient) -> None:
    statement = _json(client, "/v1/cities/helsinki/statement?year=2030")
    (warning,) = [w for w in statement["warnings"] if w["code"] == "compensation-above-residual-cap"]
    text = _page(client, "/cities/helsinki/2030")
    item = re.search(r"<li class=\"warning\"><code>compensation-above-residual-cap</code>(.*?)</li>", text, re.DOTALL)
    assert item is not None
    assert html.escape(warning["message"], quote=True) in item[1]
    assert [int(i) for i in re.findall(r'href="/verify\?entry=(\d+)"', item[1])] == warning["evidence"]
    assert _tonnes(re.findall(r'data-figure="net">([^<]+)<', text)[0]) == 0


def test_bogota_2022_lists_its_exclusion_with_code_tonnes_and_evidence(client: TestClient) -> None:
    statement = _json(client, "/v1/cities/bogota/statement?year=2022")
    (excluded,) = [e for e in statement["exclusions"] if e["code"] == "contribution-only"]
    assert excluded["tonnes"] == 120_000
    text = _page(client, "/cities/bogota/2022")
    row = re.search(r"<tr><td><code>contribution-only</code></td>(.*?)</tr>", text, re.DOTALL)
    assert row is not None
    assert '<td class="num">120\u202f000</td>' in row[1]
    assert [int(i) for i in re.findall(r'href="/verify\?entry=(\d+)"', row[1])] == excluded["evidence"]
    assert 'data-figure="net">9\u202f910\u202f882 t<' in text
    assert 'data-figure="compensation">—<' in text  # no base year: no share


def test_the_download_links_serve_the_statement_as_json_and_csv(client: TestClient) -> None:
    text = _page(client, "/cities/turku/2029")
    download = re.compile(r'<a href="([^"]+)" type="[^"]+" download>(\w+)</a>')
    links = {name: html.unescape(href) for href, name in download.findall(text)}
    assert set(links) == {"JSON", "CSV"}
    as_json = client.get(links["JSON"])
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json() == _json(client, "/v1/cities/turku/statement?year=2029")
    as_csv = client.get(links["CSV"])
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["item"]: int(r["tonnes"]) for r in rows if r["section"] == "total"}["retired_credits"] == 89_000
    by_header = client.get("/v1/cities/turku/statement?year=2029", headers={"Accept": "text/csv"})
    assert by_header.text == as_csv.text  # Accept still chooses CSV without format
    overridden = client.get("/v1/cities/turku/statement?year=2029&format=json", headers={"Accept": "text/csv"})
    assert overridden.headers["content-type"] == "application/json"


def test_a_year_without_an_inventory_is_a_404_page_saying_so(client: TestClient) -> None:
    assert "&#39;turku&#39; has no inventory for 2031" in _page(client, "/cities/turku/2031", 404)
    assert "No city account &#39;biochar-fi&#39;" in _page(client, "/cities/biochar-fi/2029", 404)
    assert "Invalid parameter: year" in _page(client, "/cities/turku/twenty", 422)


# --- /trace/{serial} -----------------------------------------------------------------------------


def test_the_trace_of_a_retired_unit_shows_every_step_linked_to_its_log_entry(client: TestClient, node: Node) -> None:
    retired = _json(client, "/v1/retirements?beneficiary=turku")["items"]
    biochar = next(r for r in retired if r["serial"].startswith("fi-biochar-1."))
    unit = re.sub(r"\.(\d+)-\d+$", r".\1-\1", biochar["serial"])  # its first unit
    with node.engine.connect() as conn:
        claim = conn.execute(sa.select(claims.c.idx).where(claims.c.retirement == biochar["index"])).scalar_one()
    steps = _json(client, f"/v1/trace/{unit}")["steps"]
    assert [s["kind"] for s in steps] == ["issuance", "sale", "retirement"]
    assert steps[-1]["index"] == biochar["index"]
    indices = [s["index"] for s in steps] + [claim]

    text = _page(client, f"/trace/{unit}")
    table = text[text.index('<h2 id="steps">') : text.index('<h2 id="findings">')]
    rows = re.findall(r'<tr>\s*<td class="num">(\d+)</td>\s*<td>(\w+)</td>', table)
    assert rows == [
        (str(i), kind) for i, kind in zip(indices, ["issuance", "sale", "retirement", "claim"], strict=True)
    ]
    for index in indices:
        assert f'href="/v1/log/entries/{index}/receipt"' in table and f'href="/verify?entry={index}"' in table
        receipt = client.get(f"/v1/log/entries/{index}/receipt")
        assert receipt.status_code == 200, index

    flow = _svg(text, "flow")
    boxes = flow.findall(f".//{SVG}a")
    assert [b.get("href") for b in boxes] == [f"/verify?entry={i}" for i in indices]
    assert len(flow.findall(f".//{SVG}line")) == 3  # issuance → sale → retirement → claim
    assert "No finding touches these units." in text


def test_the_trace_lists_the_findings_that_touch_the_units(client: TestClient) -> None:
    second = _json(client, "/v1/projects/fi-biochar-1")["batches"][-1]
    unit = re.sub(r"\.(\d+)-\d+$", r".\1-\1", _json(client, f"/v1/batches/{second}")["serial"])  # its first unit
    found = _json(client, f"/v1/trace/{unit}")["findings"]
    assert "overlapping-issuance" in {f["kind"] for f in found}
    text = _page(client, f"/trace/{unit}")
    findings = text[text.index('<h2 id="findings">') :]
    assert re.findall(r"<td><code>([a-z-]+)</code></td>", findings) == [f["kind"] for f in found]


def test_trace_error_pages(client: TestClient) -> None:
    assert "&#39;not-a-serial&#39; is not a serial range" in _page(client, "/trace/not-a-serial", 400)
    assert "No batch 99 of fi-biochar-1 2028" in _page(client, "/trace/fi-biochar-1.2028.99.1-1", 404)
    assert "were not all issued in batch 1" in _page(client, "/trace/fi-biochar-1.2028.1.1-999999999", 404)


def test_a_range_in_more_blocks_than_the_page_reads_is_a_422_page(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _json(client, "/v1/batches/1")
    blocks = _json(client, "/v1/batches/1/blocks?limit=1000")["items"]
    assert len(blocks) >= 2
    monkeypatch.setattr(web_trace, "MAX_BLOCKS", len(blocks) - 1)
    text = _page(client, f"/trace/{batch['serial']}", 422)
    assert f"lie in more than {len(blocks) - 1} blocks: trace a narrower range" in text
    monkeypatch.setattr(web_trace, "MAX_BLOCKS", len(blocks))
    assert _page(client, f"/trace/{batch['serial']}").count('<td class="num">') >= len(blocks)
