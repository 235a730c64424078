"""Cursor pagination: walking any list page by page reaches every item exactly once.

Every list answers ``items`` and ``next``; ``next`` is null on the last page (never an empty
page after a full one), and a page with a successor links it with RFC 8288 ``Link: rel="next"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.keys import SignerKey
from registry import commands, imports
from registry.demo import build_demo
from registry.external import parse_export
from registry.node import Node
from registry.state import Applied
from tests.conftest import SHARED_DATA

Json = dict[str, Any]
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')
EXPORTS = [  # (source, file): gold-standard's projects have 2 rows that cannot be used as published
    ("verra", SHARED_DATA / "registries" / "verra" / "projects.csv"),
    ("gold-standard", SHARED_DATA / "registries" / "gold-standard" / "projects.csv"),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, module_database_cli_url: str) -> Iterator[Node]:
    """The demo registry, with two exports of another registry imported."""
    root = tmp_path_factory.mktemp("pages") / "registry"
    demo = build_demo(root, database_url=module_database_cli_url)
    operator = SignerKey.parse((root / "keys" / "operator.key").read_text())
    for source, file in EXPORTS:
        made = imports.import_commands(demo.origin, "operator", parse_export(source, file.read_bytes()), file.name)
        outcomes = demo.registry.submit_many([commands.sign(c, [operator]) for c in made])
        assert all(isinstance(o, Applied) for o in outcomes), outcomes
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(node: Node) -> TestClient:
    return TestClient(create_app(node))


def _get(client: TestClient, url: str) -> tuple[Json, str | None]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body, response.headers.get("link")


def _walk(client: TestClient, path: str, limit: int) -> list[Json]:
    """Every item of the list at ``path``, following the Link header from page to page."""
    separator = "&" if "?" in path else "?"
    url: str | None = f"{path}{separator}limit={limit}"
    items: list[Json] = []
    pages = 0
    while url is not None:
        page, link = _get(client, url)
        pages += 1
        assert 0 < len(page["items"]) <= limit or pages == 1, (url, page)  # never an empty page after the first
        items += page["items"]
        if page["next"] is None:
            assert link is None, url
            url = None
        else:
            assert len(page["items"]) == limit
            match = LINK.match(link or "")
            assert match is not None, link
            assert f"after={page['next']}" in match["url"] and f"limit={limit}" in match["url"]
            url = match["url"]
    return items


def _list_paths(client: TestClient) -> list[str]:
    imported = client.get("/v1/imports").json()["items"]
    (with_problems,) = [i["file_sha256"] for i in imported if i["problems"] > 0]
    return [
        "/v1/projects",
        "/v1/retirements",
        "/v1/retirements?beneficiary=turku",
        "/v1/cancellations",
        "/v1/findings",
        "/v1/imports",
        f"/v1/imports/{with_problems}/problems",
        "/v1/batches/1/blocks",
        "/v1/accounts/turku/holdings?status=retired",
    ]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_walking_every_list_reaches_every_item_exactly_once(client: TestClient, limit: int) -> None:
    for path in _list_paths(client):
        everything, link = _get(client, path)
        assert link is None and everything["next"] is None, path  # one page of up to 100 holds it all
        assert everything["items"], path
        assert _walk(client, path, limit) == everything["items"], path


def test_a_page_that_ends_the_list_exactly_has_no_next(client: TestClient) -> None:
    projects = client.get("/v1/projects").json()["items"]
    last_page, link = _get(client, f"/v1/projects?limit=1&after={projects[-2]['id']}")
    assert (last_page["items"], last_page["next"], link) == ([projects[-1]], None, None)
    full, link = _get(client, f"/v1/projects?limit={len(projects)}")
    assert (len(full["items"]), full["next"], link) == (len(projects), None, None)


def test_the_link_keeps_the_other_query_parameters(client: TestClient) -> None:
    response = client.get("/v1/retirements", params={"beneficiary": "turku", "limit": 1})
    page = response.json()
    assert response.headers["link"] == f'</v1/retirements?beneficiary=turku&limit=1&after={page["next"]}>; rel="next"'
