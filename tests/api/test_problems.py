"""Every error of every route is RFC 9457 ``application/problem+json`` with a stable ``type``.

One table walks an error request of each route family (and the framework's own errors:
unknown route, wrong method, invalid parameters, body too large, internal error).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry.node import Node
from tests.builders import populated_node

PROBLEM_JSON = "application/problem+json"
NO_FILE = "0" * 64


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, module_database_cli_url: str) -> Iterator[Node]:
    """A registry of three entries; these tests only read it (and refuse writes)."""
    registry = populated_node(tmp_path_factory.mktemp("problems") / "registry", 3, database_url=module_database_cli_url)
    yield registry
    registry.close()


@pytest.fixture
def client(node: Node) -> TestClient:
    app = create_app(node)

    @app.get("/test/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    return TestClient(app, raise_server_exceptions=False)


ERRORS: list[tuple[str, str, int, str]] = [
    # the framework
    ("GET", "/v1/no-such-route", 404, "not-found"),
    ("GET", "/no-such-route", 404, "not-found"),
    ("DELETE", "/v1/projects", 405, "method-not-allowed"),
    ("POST", "/v1/health", 405, "method-not-allowed"),
    ("GET", "/test/boom", 500, "internal-error"),
    # accounts
    ("GET", "/v1/accounts/no-such-account", 404, "account-not-found"),
    ("GET", "/v1/accounts/no-such-account/holdings", 404, "account-not-found"),
    ("GET", "/v1/accounts/operator/holdings?status=cancelled", 422, "invalid-request"),
    ("GET", "/v1/accounts/operator/holdings?after=-1", 422, "invalid-request"),
    # projects and batches
    ("GET", "/v1/projects?limit=0", 422, "invalid-request"),
    ("GET", "/v1/projects?limit=1001", 422, "invalid-request"),
    ("GET", "/v1/projects/no-such-project", 404, "project-not-found"),
    ("GET", "/v1/batches/abc", 422, "invalid-request"),
    ("GET", "/v1/batches/99", 404, "batch-not-found"),
    ("GET", "/v1/batches/99/blocks", 404, "batch-not-found"),
    ("GET", "/v1/batches/99999999999999999999", 422, "invalid-request"),
    # retirements, cancellations, serials
    ("GET", "/v1/retirements?after=-2", 422, "invalid-request"),
    ("GET", "/v1/retirements/1", 404, "retirement-not-found"),
    ("GET", "/v1/cancellations?limit=x", 422, "invalid-request"),
    ("GET", "/v1/serials/not-a-serial/history", 404, "serial-not-found"),
    ("GET", "/v1/serials/perm.2028.1.1-10/history", 404, "batch-not-found"),
    # double counting
    ("GET", "/v1/trace/not-a-serial", 404, "serial-not-found"),
    ("GET", "/v1/findings?kind=bogus", 422, "invalid-request"),
    ("GET", "/v1/findings?after=x", 422, "invalid-request"),
    ("GET", "/v1/retirements/1/check", 404, "retirement-not-found"),
    ("GET", "/v1/imports?after=-2", 422, "invalid-request"),
    ("GET", f"/v1/imports/{NO_FILE}/problems", 404, "import-not-found"),
    ("GET", "/v1/imports/xyz/problems", 422, "invalid-request"),
    # cities
    ("GET", "/v1/cities/no-such-city/statement?year=2029", 404, "city-not-found"),
    ("GET", "/v1/cities/no-such-city/statement", 422, "invalid-request"),
    ("GET", "/v1/cities/no-such-city/statement/signed?year=1800", 422, "invalid-request"),
    # events
    ("GET", "/v1/events/no-such-event", 404, "event-not-found"),
    ("POST", "/v1/events", 400, "malformed-envelope"),
    # the log
    ("GET", "/log/tile/0/999", 404, "not-found"),
    ("GET", "/log/tile/entries/x", 404, "not-found"),
    ("GET", "/v1/log/entries/99/receipt", 404, "not-found"),
    ("GET", "/v1/log/entries/x/inclusion-proof", 422, "invalid-request"),
    ("GET", "/v1/log/entries/0/inclusion-proof?tree_size=99", 404, "not-found"),
    ("GET", "/v1/log/consistency-proof", 422, "invalid-request"),
    ("GET", "/v1/log/consistency-proof?first=99", 404, "not-found"),
]


@pytest.mark.parametrize(("method", "path", "status", "code"), ERRORS)
def test_every_error_is_a_problem_with_a_stable_type(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path, content=b"{" if method == "POST" else None)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    # RFC 9457 §3.1: type, title, status and detail; type is relative to the API's root.
    assert body["type"] == f"/problems/{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]


def test_a_wrong_method_names_the_allowed_ones(client: TestClient) -> None:
    response = client.delete("/v1/projects")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"  # RFC 9110 §15.5.6
    assert response.json()["title"] == "Method Not Allowed"


def test_an_invalid_parameter_is_named(client: TestClient) -> None:
    body = client.get("/v1/projects", params={"limit": 0}).json()
    assert body["detail"] == "invalid field(s): query.limit"
    assert [e["field"] for e in body["errors"]] == ["query.limit"]


def test_an_internal_error_says_nothing_of_its_cause(client: TestClient) -> None:
    body = client.get("/test/boom").json()
    assert "a bug" not in body["detail"]
    assert body["title"] == "Internal error"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/health", "/v1/projects", "/v1/no-such-route"])
def test_a_body_over_the_limit_is_refused_on_any_route(client: TestClient, node: Node, path: str) -> None:
    size = node.store.head()[0]
    response = client.post(path, content=b"x" * 65_536)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["type"], body["limit"]) == ("/problems/body-too-large", 65_535)
    assert node.store.head()[0] == size


def test_a_chunked_body_over_the_limit_is_refused_as_it_is_read(client: TestClient, node: Node) -> None:
    size = node.store.head()[0]

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 4096

    response = client.post("/v1/events", content=chunks())  # no Content-Length: Transfer-Encoding chunked
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == "/problems/body-too-large"
    assert node.store.head()[0] == size


def test_a_body_at_the_limit_is_read(client: TestClient) -> None:
    response = client.post("/v1/events", content=b" " * 65_535)
    assert response.status_code == 400  # read in full, then refused for what it is
    assert response.json()["type"] == "/problems/malformed-envelope"
