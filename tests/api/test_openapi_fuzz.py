"""The OpenAPI document, and schemathesis fuzzing the whole API against it.

Schemathesis generates requests from the document for every operation (valid and invalid
parameters, random envelopes for ``POST /v1/events``) and sends them to the app in process.
Every answer must be: no 5xx; a 4xx is problem+json with a ``/problems/…`` type; a body that
matches the schema the document declares for its status; a content type the document declares.
The run is derandomized and keeps no example database, so it is the same on every machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.app import create_app
from api.settings import Settings
from registry.demo import build_demo

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The demo registry (accounts, projects, batches, retirements, cities) on SQLite, served in process."""
    node = build_demo(tmp_path_factory.mktemp("fuzz") / "registry")
    yield create_app(node, Settings(write_rate=100, write_burst=200))
    node.close()


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# --- the document ------------------------------------------------------------------------------


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    return bool(_resolve(document, media.get("schema", {})).get("examples"))


def _operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (path, method) the app routes under /v1 and /log (routers included)."""
    return sorted(
        (path, method.lower())
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and route.original_route.include_in_schema
        for path in [route.path or ""]
        if path.startswith(("/v1/", "/log/"))
        for method in route.methods or ()
    )


def test_every_operation_is_documented_with_examples_and_problems(app: FastAPI) -> None:
    document = app.openapi()
    operations = _operations(app)
    assert len(operations) >= 25
    for path, method in operations:
        operation = document["paths"][path.replace(":path", "")][method]
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        answers = operation["responses"]
        ok = [status for status in answers if status.startswith("2")]
        assert ok, where
        for status in ok:
            content = answers[status]["content"]
            assert all("schema" in media for media in content.values()), (where, status)
            assert any(_has_example(document, media) for media in content.values()), (where, status)
        errors = [status for status in answers if status[0] in "45"]
        assert "500" in errors, where
        for status in errors:
            (media_type, media), *others = answers[status]["content"].items()
            assert (media_type, others) == (PROBLEM_JSON, []), (where, status)
            assert media["schema"] == {"$ref": PROBLEM_REF}, (where, status)
            assert media["example"]["status"] == int(status), (where, status)
            assert media["example"]["type"].startswith("/problems/"), (where, status)
    request = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert request["example"]["payloadType"] == "application/vnd.carbon-registry.statement+json"
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {"type", "title", "status", "detail"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_examples_match_their_schemas(app: FastAPI) -> None:
    # An example that does not validate would teach a client the wrong shape.
    from jsonschema_rs import validator_for

    document = app.openapi()
    components = document["components"]["schemas"]
    checked = 0
    for name, schema in components.items():
        for example in schema.get("examples", []):
            validator = validator_for({**schema, "components": document["components"]})
            assert validator.is_valid(example), (name, list(validator.iter_errors(example))[:1])
            checked += 1
    assert checked >= 20


# --- fuzzing -----------------------------------------------------------------------------------


@schemathesis.check
def problem_json_for_client_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx answer is RFC 9457 problem+json with a stable ``/problems/…`` type and its status."""
    del ctx, case
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type == PROBLEM_JSON, f"{response.status_code} answered {content_type!r}"
    body = response.json()
    assert str(body.get("type", "")).startswith("/problems/"), body
    assert body.get("status") == response.status_code, body
    return True


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 renames the test item through ``_nodeid``, which pytest 9.2 no longer has.
    request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: Any) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            problem_json_for_client_errors,
            response_schema_conformance,
            content_type_conformance,
        ]
    )
