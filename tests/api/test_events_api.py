"""The write API (``POST /v1/events``, ``GET /v1/events/{id}``) and the registry's read endpoints.

Every refusal must be ``application/problem+json`` naming what is at fault, and must write
nothing: neither a log entry, nor a checkpoint, nor a row of state. Reads are checked value
by value after a short scenario whose log indices are known.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import canonical, dsse
from ledger.checkpoint import open_checkpoint
from ledger.entry import LogEntry
from ledger.keys import SignerKey, VerifierKey
from ledger.receipt import Receipt, verify_receipt
from registry import commands, replay
from registry.node import Node
from registry.statements import PAYLOAD_TYPE
from registry.writer import WriterClient
from tests.builders import BOUNDARY, JURISDICTION, REPORT, party_key, populated_node
from tests.servers import writer_serving

Json = dict[str, Any]
PROBLEM_JSON = "application/problem+json"
MAX_BODY = 65_535

# Accounts opened after the genesis event (index 0), in this order: indices 1..5.
PARTIES: tuple[tuple[str, str], ...] = (
    ("verifier", "verifier"),
    ("supplier", "supplier"),
    ("city-a", "city"),
    ("city-b", "city"),
    ("buyer", "buyer"),
)
OPENED_AT = {"operator": 0} | {name: i + 1 for i, (name, _role) in enumerate(PARTIES)}
PROJECT_AT = len(PARTIES) + 1  # 6: the project "perm"
FIRST_FREE = PROJECT_AT + 1  # 7: the first index a test's own events get


@dataclass
class Api:
    """A registry node served over HTTP, with the signing keys of its parties."""

    node: Node
    client: TestClient
    keys: dict[str, SignerKey]

    @property
    def origin(self) -> str:
        return self.node.origin

    def envelope(self, command: commands.Command, *signers: str) -> dsse.Envelope:
        return commands.sign(command, [self.keys[s] for s in signers])

    def post(self, body: bytes | dsse.Envelope, headers: dict[str, str] | None = None) -> httpx.Response:
        content = json.dumps(body.to_json()).encode() if isinstance(body, dsse.Envelope) else body
        response: httpx.Response = self.client.post(
            "/v1/events", content=content, headers={"content-type": "application/json", **(headers or {})}
        )
        return response

    def submit(self, command: commands.Command, *signers: str) -> Json:
        """Submit an event that must be accepted; return the 201 body."""
        response = self.post(self.envelope(command, *signers))
        assert response.status_code == 201, response.text
        body: Json = response.json()
        return body

    def get(self, path: str, **params: Any) -> Json:
        """GET a JSON resource that must exist."""
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body: Json = response.json()
        return body

    def log_size(self) -> int:
        return self.node.store.head()[0]

    def checkpoint_size(self) -> int:
        return open_checkpoint(self.client.get("/log/checkpoint").text, self.node.log_vkey).size

    def written(self) -> tuple[Any, ...]:
        """Everything a write could change: the store's head, the served checkpoint, every state row."""
        with self.node.engine.connect() as conn:
            state = replay.snapshot(conn)
        return self.node.store.head(), self.client.get("/log/checkpoint").text, state


@contextmanager
def writes_nothing(api: Api) -> Iterator[None]:
    before = api.written()
    size = api.log_size()
    yield
    assert api.log_size() == size
    assert api.checkpoint_size() == size
    assert api.written() == before


@pytest.fixture(params=["in-process", "writer-process"])
def api(request: pytest.FixtureRequest, tmp_path: Path, database_cli_url: str) -> Iterator[Api]:
    """A registry with an operator, a verifier, a supplier, two cities, a buyer and project ``perm``.

    Its events are written by the application's own node, or (as under ``registry serve``) by a
    writer with a node of its own (registry.writer): every write and read test runs both ways.
    """
    root = tmp_path / "registry"
    node = populated_node(root, 1, database_url=database_cli_url)
    operator = SignerKey.parse((root / "keys" / "operator.key").read_text())
    with ExitStack() as stack:
        writer = None
        if request.param == "writer-process":
            writer = WriterClient(stack.enter_context(writer_serving(root, database_cli_url)))
        registry = Api(node, TestClient(create_app(node, writer=writer)), {"operator": operator})
        _open_parties(registry)
        yield registry
        node.close()


def _open_parties(registry: Api) -> None:
    """Open the accounts of :data:`PARTIES` and register project ``perm`` through the API."""
    node = registry.node
    for name, role in PARTIES:
        registry.keys[name] = party_key(name)
        extra: Json = {"jurisdiction": JURISDICTION, "boundary": BOUNDARY} if role == "city" else {}
        opened = commands.open_account(
            node.origin,
            operator="operator",
            account=name,
            role=role,
            name=name.title(),
            keys=[commands.public_key(registry.keys[name])],
            **extra,
        )
        assert registry.submit(opened, "operator")["index"] == OPENED_AT[name]
    project = commands.register_project(
        node.origin,
        project="perm",
        supplier="supplier",
        name="Project perm",
        method="biochar",
        unit_type="permanent-removal",
        location={"country": "FI", "subdivision": "FI-19"},
        methodology="test methodology",
        scheme="test scheme",
    )
    assert registry.submit(project, "supplier")["index"] == PROJECT_AT
    assert registry.log_size() == FIRST_FREE


def issuance(
    api: Api,
    quantity: int = 1000,
    *,
    buffer: int = 100,
    period: tuple[str, str] = ("2028-01-01", "2028-12-31"),
    event_id: str | None = None,
) -> commands.Command:
    return commands.issue(
        api.origin,
        project="perm",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=period,
        vintage=2028,
        quantity=quantity,
        report_sha256=REPORT,
        buffer=buffer,
        event_id=event_id,
    )


def retirement(
    api: Api, holder: str, serial: str, beneficiary: str, *, period: tuple[str, str] | None = None
) -> commands.Command:
    return commands.retire(
        api.origin,
        holder,
        serial,
        "compensation",
        "FI-19",
        beneficiary_account=beneficiary,
        year=None if period else 2029,
        period=period,
    )


def assert_problem(
    response: httpx.Response,
    status: int,
    code: str,
    *,
    field: str | None = None,
    names: tuple[str, ...] = (),
    facts: Json | None = None,
) -> Json:
    """Check a problem+json answer: status, stable type, the field at fault and the facts it carries."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: Json = response.json()
    assert body["type"] == f"/problems/{code}", body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    for name in names:
        assert name in body["detail"], body
    for key, value in (facts or {}).items():
        assert body.get(key) == value, body
    return body


# --- accepting -------------------------------------------------------------------------------


def test_an_accepted_event_answers_its_index_a_receipt_and_the_checkpoint(api: Api) -> None:
    envelope = api.envelope(issuance(api, event_id="issue-1"), "supplier", "verifier")
    response = api.post(envelope)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"index", "id", "type", "duplicate", "checkpoint", "receipt"}
    assert (body["index"], body["id"], body["type"], body["duplicate"]) == (FIRST_FREE, "issue-1", "issuance", False)
    assert api.log_size() == FIRST_FREE + 1

    # The receipt verifies offline against the published verifier key and carries the entry.
    vkey = VerifierKey.parse(api.client.get("/log/vkey").text)
    assert vkey == api.node.log_vkey
    signed = verify_receipt(body["receipt"], vkey)
    assert signed.size == FIRST_FREE + 1
    receipt = Receipt.parse(body["receipt"])
    assert receipt.index == FIRST_FREE
    assert receipt.checkpoint == body["checkpoint"]
    assert receipt.entry is not None
    assert LogEntry.decode(receipt.entry).envelope == envelope
    assert open_checkpoint(body["checkpoint"], vkey).size == FIRST_FREE + 1
    assert api.client.get("/log/checkpoint").text == body["checkpoint"]
    assert api.get("/v1/batches/1")["issued_at"] == FIRST_FREE


def test_resubmitting_answers_200_and_the_same_index_and_changes_nothing(api: Api) -> None:
    envelope = api.envelope(issuance(api, event_id="issue-1"), "supplier", "verifier")
    first = api.post(envelope).json()
    with writes_nothing(api):
        again = api.post(envelope)
    assert again.status_code == 200, again.text
    body = again.json()
    assert (body["index"], body["id"], body["type"], body["duplicate"]) == (first["index"], "issue-1", "issuance", True)
    verify_receipt(body["receipt"], api.node.log_vkey)
    assert api.log_size() == FIRST_FREE + 1


def test_reusing_an_id_for_a_different_event_is_a_conflict(api: Api) -> None:
    api.submit(issuance(api, event_id="issue-1"), "supplier", "verifier")
    other = api.envelope(issuance(api, 500, event_id="issue-1"), "supplier", "verifier")
    with writes_nothing(api):
        response = api.post(other)
    assert_problem(response, 409, "idempotency-conflict", names=("issue-1",), facts={"event_id": "issue-1"})
    assert response.json()["index"] == FIRST_FREE


def test_an_accepted_event_is_found_by_its_id(api: Api) -> None:
    api.submit(issuance(api, event_id="issue-1"), "supplier", "verifier")
    body = api.get("/v1/events/issue-1")
    assert (body["index"], body["id"], body["type"]) == (FIRST_FREE, "issue-1", "issuance")
    receipt = verify_receipt(body["receipt"], api.node.log_vkey)
    assert receipt.size == FIRST_FREE + 1
    assert Receipt.parse(body["receipt"]).index == FIRST_FREE
    assert api.get("/v1/events/genesis")["index"] == 0
    assert_problem(api.client.get("/v1/events/no-such-event"), 404, "event-not-found", names=("no-such-event",))


# --- refusing --------------------------------------------------------------------------------

SERIAL = "perm.2028.1.1-1000"  # the batch every refusal case starts from: 1-100 buffer, 101-1000 supplier


def _envelope_text(api: Api) -> str:
    """A valid, not yet submitted transfer envelope as the JSON text of the body."""
    return json.dumps(
        api.envelope(commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.101-200"), "supplier").to_json()
    )


def _signed_raw(api: Api, payload: bytes, *signers: str, payload_type: str = PAYLOAD_TYPE) -> bytes:
    envelope = dsse.sign(payload_type, payload, [api.keys[s] for s in signers])
    return json.dumps(envelope.to_json()).encode()


def _malformed_json(api: Api) -> httpx.Response:
    return api.post(_envelope_text(api)[:-7].encode())


def _long_integer_literal(api: Api) -> httpx.Response:
    return api.post(b'{"payload": ' + b"1" * 5000 + b"}")  # past Python's 4,300-digit int limit


def _nested_too_deeply(api: Api) -> httpx.Response:
    return api.post(b"[" * 30_000 + b"]" * 30_000)  # 60,000 bytes: under the size limit


def _duplicate_keys(api: Api) -> httpx.Response:
    text = _envelope_text(api)
    assert text.startswith('{"payload": ')
    return api.post(('{"payloadType": "application/json", ' + text[1:]).encode())


def _float_in_body(api: Api) -> httpx.Response:
    text = _envelope_text(api).replace(f'"payloadType": "{PAYLOAD_TYPE}"', '"payloadType": 1.5')
    assert '"payloadType": 1.5' in text
    return api.post(text.encode())


def _unknown_envelope_field(api: Api) -> httpx.Response:
    body = json.loads(_envelope_text(api)) | {"colour": "green"}
    return api.post(json.dumps(body).encode())


def _keys_out_of_order(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.101-200")
    payload = json.dumps(command, separators=(",", ":")).encode()  # "type" first: not sorted
    assert payload != canonical.encode(command)
    return api.post(_signed_raw(api, payload, "supplier"))


def _whitespace_in_payload(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.101-200")
    payload = json.dumps(command, sort_keys=True).encode()  # ", " and ": "
    assert payload != canonical.encode(command)
    return api.post(_signed_raw(api, payload, "supplier"))


def _unknown_event_field(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.101-200") | {"colour": "green"}
    return api.post(api.envelope(command, "supplier"))


def _quantity(value: int) -> Callable[[Api], httpx.Response]:
    def send(api: Api) -> httpx.Response:
        return api.post(api.envelope(issuance(api, value, buffer=0), "supplier", "verifier"))

    return send


def _quantity_above_2_53(api: Api) -> httpx.Response:
    # Canonical bytes in every other respect: only the decoder's safe-integer rule refuses them.
    payload = canonical.encode(issuance(api, 123_456_789, buffer=0))
    payload = payload.replace(b'"quantity":123456789', b'"quantity":%d' % (2**53 + 1))
    assert b"9007199254740993" in payload
    return api.post(_signed_raw(api, payload, "supplier", "verifier"))


def _serial_outside_batch(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.900-1200")
    return api.post(api.envelope(command, "supplier"))


def _units_not_held(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "buyer", "city-a", "perm.2028.1.101-200")
    return api.post(api.envelope(command, "buyer"))


def _monitoring_period_reversed(api: Api) -> httpx.Response:
    command = issuance(api, period=("2028-12-31", "2028-01-01"))
    return api.post(api.envelope(command, "supplier", "verifier"))


def _claim_period_reversed(api: Api) -> httpx.Response:
    command = retirement(api, "supplier", "perm.2028.1.101-200", "supplier", period=("2029-12-31", "2029-01-01"))
    return api.post(api.envelope(command, "supplier"))


def _unknown_recipient(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "supplier", "nobody", "perm.2028.1.101-200")
    return api.post(api.envelope(command, "supplier"))


def _missing_cosignature(api: Api) -> httpx.Response:
    return api.post(api.envelope(issuance(api), "supplier"))  # the verifier must co-sign


def _wrong_payload_type(api: Api) -> httpx.Response:
    command = commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.101-200")
    return api.post(_signed_raw(api, canonical.encode(command), "supplier", payload_type="application/json"))


@dataclass(frozen=True)
class Refusal:
    send: Callable[[Api], httpx.Response]
    status: int
    code: str
    field: str | None = None
    names: tuple[str, ...] = ()
    facts: tuple[tuple[str, Any], ...] = ()


REFUSALS: dict[str, Refusal] = {
    "malformed JSON": Refusal(_malformed_json, 400, "malformed-envelope", names=("body", "not valid JSON")),
    "integer literal too long": Refusal(_long_integer_literal, 400, "malformed-envelope", names=("body",)),
    "nested too deeply": Refusal(_nested_too_deeply, 400, "malformed-envelope", names=("body",)),
    "duplicate keys": Refusal(_duplicate_keys, 400, "malformed-envelope", names=("payloadType",)),
    "float in the body": Refusal(_float_in_body, 400, "malformed-envelope", names=("payloadType", "1.5")),
    "unknown envelope field": Refusal(_unknown_envelope_field, 400, "malformed-envelope", names=("colour",)),
    "payload keys out of order": Refusal(_keys_out_of_order, 422, "invalid-event", "payload", ("canonical",)),
    "whitespace in payload": Refusal(_whitespace_in_payload, 422, "invalid-event", "payload", ("canonical",)),
    "unknown event field": Refusal(_unknown_event_field, 422, "invalid-event", "colour"),
    "zero quantity": Refusal(_quantity(0), 422, "invalid-event", "quantity"),
    "negative quantity": Refusal(_quantity(-5), 422, "invalid-event", "quantity"),
    "quantity above 2^53": Refusal(_quantity_above_2_53, 422, "invalid-event", "payload", ("$.quantity",)),
    "serial outside its batch": Refusal(_serial_outside_batch, 422, "rule-violation", "serial", ("900-1200",)),
    "units not held": Refusal(
        _units_not_held,
        409,
        "not-holder",
        names=("perm.2028.1.101-200",),
        facts=(("holder", "supplier"), ("since", FIRST_FREE), ("account", "buyer"), ("serials", "perm.2028.1.101-200")),
    ),
    "monitoring period reversed": Refusal(_monitoring_period_reversed, 422, "invalid-event", "monitoring_period.end"),
    "claim period reversed": Refusal(_claim_period_reversed, 422, "invalid-event", "period.end"),
    "unknown recipient": Refusal(_unknown_recipient, 422, "unknown-reference", "to", ("nobody",)),
    "missing co-signature": Refusal(_missing_cosignature, 403, "unauthorised", names=("verifier",)),
    "wrong payloadType": Refusal(_wrong_payload_type, 422, "invalid-event", "payloadType", ("application/json",)),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_bad_input_is_refused_with_a_problem_and_writes_nothing(api: Api, case: Refusal) -> None:
    api.submit(issuance(api), "supplier", "verifier")
    assert api.get("/v1/batches/1")["serial"] == SERIAL
    with writes_nothing(api):
        response = case.send(api)
    assert_problem(response, case.status, case.code, field=case.field, names=case.names, facts=dict(case.facts))


def _padded(api: Api, size: int) -> bytes:
    """A valid envelope followed by whitespace (still valid JSON) to exactly ``size`` bytes."""
    text = _envelope_text(api).encode()
    assert len(text) < size
    return text + b" " * (size - len(text))


def test_a_body_of_exactly_the_limit_is_accepted(api: Api) -> None:
    api.submit(issuance(api), "supplier", "verifier")
    response = api.post(_padded(api, MAX_BODY))
    assert response.status_code == 201, response.text
    assert response.json()["index"] == FIRST_FREE + 1


def test_an_oversize_body_with_a_content_length_is_refused_and_writes_nothing(api: Api) -> None:
    api.submit(issuance(api), "supplier", "verifier")
    with writes_nothing(api):
        response = api.post(_padded(api, MAX_BODY + 1))
    assert response.request.headers["content-length"] == str(MAX_BODY + 1)
    assert_problem(response, 413, "body-too-large", names=("65535",), facts={"limit": MAX_BODY})


def test_an_oversize_body_without_a_content_length_is_refused_and_writes_nothing(api: Api) -> None:
    api.submit(issuance(api), "supplier", "verifier")
    body = _padded(api, MAX_BODY + 1000)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    with writes_nothing(api):
        response = api.client.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body-too-large", names=("65535",), facts={"limit": MAX_BODY})


# --- reading ---------------------------------------------------------------------------------

SPARE_KEY = "buyer-spare"


@pytest.fixture
def scenario(api: Api) -> Api:
    """Issue with a buffer, sell, transfer, retire twice, reverse twice, bind a key: indices 7..14.

    Batch 1 is perm.2028.1.1-1000 with 100 buffer units; afterwards its blocks are::

        1-60     cancelled            (12: the first reversal, from the buffer)
        61-100   cancelled            (13: the second reversal drains the buffer...)
        101-250  retired by city-a    (10)
        251-400  held by city-a       (8: sold by the supplier)
        401-450  retired by buyer     (11, for city-b)
        451-500  held by buyer        (9: transferred by the supplier)
        501-560  cancelled            (13: ...and takes the rest from the supplier's units)
        561-1000 held by supplier     (7)
    """
    o = api.origin
    assert api.submit(issuance(api), "supplier", "verifier")["index"] == 7
    sale = commands.sell(o, "supplier", "city-a", "perm.2028.1.101-400", price=("1500.00", "EUR"))
    assert api.submit(sale, "supplier")["index"] == 8
    assert api.submit(commands.transfer(o, "supplier", "buyer", "perm.2028.1.401-500"), "supplier")["index"] == 9
    assert api.submit(retirement(api, "city-a", "perm.2028.1.101-250", "city-a"), "city-a")["index"] == 10
    assert api.submit(retirement(api, "buyer", "perm.2028.1.401-450", "city-b"), "buyer")["index"] == 11
    first = commands.cancel(o, "operator", "reversal", "kiln fire", project="perm", quantity=60)
    assert api.submit(first, "operator")["index"] == 12
    supply = api.get("/v1/batches/1")["supply"]
    assert supply == {"held": 700, "buffer": 40, "retired": 200, "cancelled": 60}
    second = commands.cancel(
        o, "operator", "reversal", "leak at storage", project="perm", quantity=100, serial="perm.2028.1.501-1000"
    )
    assert api.submit(second, "operator")["index"] == 13
    spare = commands.bind_key(o, "operator", "buyer", commands.public_key(party_key(SPARE_KEY)))
    assert api.submit(spare, "operator")["index"] == 14
    return api


def _key(name: str, bound_at: int) -> Json:
    return {"keyid": party_key(name).verifier.dsse_key_id, "bound_at": bound_at, "revoked_at": None}


def test_accounts_show_role_and_keys_with_the_indices_that_bound_them(scenario: Api) -> None:
    assert scenario.get("/v1/accounts/city-a") == {
        "id": "city-a",
        "role": "city",
        "name": "City-A",
        "opened_at": 3,
        "keys": [_key("city-a", 3)],
        "jurisdiction": JURISDICTION,
        "boundary": BOUNDARY,
    }
    assert scenario.get("/v1/accounts/buyer") == {
        "id": "buyer",
        "role": "buyer",
        "name": "Buyer",
        "opened_at": 5,
        "keys": [_key("buyer", 5), _key(SPARE_KEY, 14)],
    }
    operator = scenario.get("/v1/accounts/operator")
    assert (operator["role"], operator["opened_at"]) == ("operator", 0)
    assert operator["keys"] == [
        {"keyid": scenario.keys["operator"].verifier.dsse_key_id, "bound_at": 0, "revoked_at": None}
    ]


def _block(first: int, last: int, holder: str | None, status: str, since: int) -> Json:
    return {
        "serial": f"perm.2028.1.{first}-{last}",
        "first": first,
        "last": last,
        "quantity": last - first + 1,
        "batch": 1,
        "holder": holder,
        "status": status,
        "since": since,
    }


BLOCKS = [
    _block(1, 60, None, "cancelled", 12),
    _block(61, 100, None, "cancelled", 13),
    _block(101, 250, "city-a", "retired", 10),
    _block(251, 400, "city-a", "held", 8),
    _block(401, 450, "buyer", "retired", 11),
    _block(451, 500, "buyer", "held", 9),
    _block(501, 560, "supplier", "cancelled", 13),
    _block(561, 1000, "supplier", "held", 7),
]


def test_holdings_give_totals_and_printed_serials(scenario: Api) -> None:
    def holdings(account: str, status: str) -> Json:
        return scenario.get(f"/v1/accounts/{account}/holdings", status=status)

    assert holdings("city-a", "held") == {
        "account": "city-a",
        "status": "held",
        "total": 150,
        "items": [BLOCKS[3]],
        "next": None,
    }
    assert holdings("city-a", "retired") == {
        "account": "city-a",
        "status": "retired",
        "total": 150,
        "items": [BLOCKS[2]],
        "next": None,
    }
    assert scenario.get("/v1/accounts/city-a/holdings")["items"] == [BLOCKS[3]]  # held by default
    assert holdings("buyer", "held")["total"] == 50
    assert holdings("buyer", "retired")["items"] == [BLOCKS[4]]
    assert holdings("supplier", "held")["items"] == [BLOCKS[7]]
    assert holdings("supplier", "held")["total"] == 440
    assert holdings("city-b", "held") == {"account": "city-b", "status": "held", "total": 0, "items": [], "next": None}


def test_a_batch_shows_its_supply_and_blocks(scenario: Api) -> None:
    batch = scenario.get("/v1/batches/1")
    assert batch == {
        "number": 1,
        "serial": "perm.2028.1.1-1000",
        "project": "perm",
        "vintage": 2028,
        "monitoring_period": {"start": "2028-01-01", "end": "2028-12-31"},
        "quantity": 1000,
        "buffer": 100,
        "durability_years": 1000,
        "expires": None,
        "report_sha256": REPORT,
        "supplier": "supplier",
        "verifier": "verifier",
        "issued_at": 7,
        "supply": {"held": 640, "buffer": 0, "retired": 200, "cancelled": 160},
    }
    assert sum(batch["supply"].values()) == batch["quantity"]
    assert scenario.get("/v1/batches/1/blocks") == {"items": BLOCKS, "next": None}
    assert scenario.get("/v1/projects/perm")["batches"] == [1]


def test_retirements_are_listed_filtered_and_found_by_index(scenario: Api) -> None:
    for_city_a = {
        "index": 10,
        "serial": "perm.2028.1.101-250",
        "quantity": 150,
        "holder": "city-a",
        "beneficiary": {"account": "city-a"},
        "purpose": "compensation",
        "period": {"year": 2029, "start": "2029-01-01", "end": "2029-12-31"},
        "jurisdiction": "FI-19",
    }
    for_city_b = for_city_a | {
        "index": 11,
        "serial": "perm.2028.1.401-450",
        "quantity": 50,
        "holder": "buyer",
        "beneficiary": {"account": "city-b"},
    }
    assert scenario.get("/v1/retirements") == {"items": [for_city_a, for_city_b], "next": None}
    assert scenario.get("/v1/retirements", beneficiary="city-b") == {"items": [for_city_b], "next": None}
    assert scenario.get("/v1/retirements", beneficiary="city-a")["items"] == [for_city_a]
    assert scenario.get("/v1/retirements", beneficiary="buyer")["items"] == []
    assert scenario.get("/v1/retirements", holder="buyer")["items"] == [for_city_b]
    assert scenario.get("/v1/retirements/11") == for_city_b


def test_a_serial_history_lists_every_step_with_its_index_and_kind(scenario: Api) -> None:
    history = scenario.get("/v1/serials/perm.2028.1.120-130/history")
    assert history == {
        "serial": "perm.2028.1.120-130",
        "steps": [
            {"index": 7, "kind": "issuance", "serial": "perm.2028.1.101-1000", "from": None, "to": "supplier"},
            {"index": 8, "kind": "sale", "serial": "perm.2028.1.101-400", "from": "supplier", "to": "city-a"},
            {"index": 10, "kind": "retirement", "serial": "perm.2028.1.101-250", "from": "city-a", "to": "city-a"},
        ],
        "blocks": [BLOCKS[2]],
    }
    whole = scenario.get("/v1/serials/perm.2028.1.1-1000/history")
    assert [(s["index"], s["kind"], s["serial"]) for s in whole["steps"]] == [
        (7, "buffer", "perm.2028.1.1-100"),
        (7, "issuance", "perm.2028.1.101-1000"),
        (8, "sale", "perm.2028.1.101-400"),
        (9, "transfer", "perm.2028.1.401-500"),
        (10, "retirement", "perm.2028.1.101-250"),
        (11, "retirement", "perm.2028.1.401-450"),
        (12, "cancellation", "perm.2028.1.1-60"),
        (13, "cancellation", "perm.2028.1.61-100"),
        (13, "cancellation", "perm.2028.1.501-560"),
    ]
    assert whole["blocks"] == BLOCKS


def test_cancellations_show_what_the_buffer_covered(scenario: Api) -> None:
    assert scenario.get("/v1/cancellations") == {
        "items": [
            {
                "index": 12,
                "reason": "reversal",
                "project": "perm",
                "quantity": 60,
                "from_buffer": 60,
                "serial": None,
                "destination": None,
                "note": "kiln fire",
            },
            {
                "index": 13,
                "reason": "reversal",
                "project": "perm",
                "quantity": 100,
                "from_buffer": 40,
                "serial": "perm.2028.1.501-560",  # what was cancelled beyond the buffer
                "destination": None,
                "note": "leak at storage",
            },
        ],
        "next": None,
    }


def _walk(api: Api, path: str, key: str, limit: int, **params: Any) -> list[Json]:
    """Every item of a list, page by page, following ``next`` as ``after``."""
    items: list[Json] = []
    after: Any = None
    for _ in range(100):
        page = api.get(path, limit=limit, **params, **({} if after is None else {"after": after}))
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next"] is None:
            return items
        assert page["next"] == page["items"][-1][key]
        after = page["next"]
    raise AssertionError(f"{path} did not end after 100 pages")


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_cursor_pagination_returns_every_item_exactly_once(scenario: Api, limit: int) -> None:
    assert _walk(scenario, "/v1/batches/1/blocks", "first", limit) == BLOCKS
    retirements = _walk(scenario, "/v1/retirements", "index", limit)
    assert [r["index"] for r in retirements] == [10, 11]
    assert [c["index"] for c in _walk(scenario, "/v1/cancellations", "index", limit)] == [12, 13]
    assert [h["first"] for h in _walk(scenario, "/v1/accounts/supplier/holdings", "first", limit)] == [561]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 100])
def test_every_page_of_holdings_carries_the_whole_total(api: Api, limit: int) -> None:
    batch = api.submit(issuance(api, buffer=0), "supplier", "verifier")["index"]
    assert api.get(f"/v1/batches/{batch - FIRST_FREE + 1}")["quantity"] == 1000
    for first, last in ((1, 10), (21, 30), (41, 50)):  # three blocks: none adjoins another
        api.submit(commands.transfer(api.origin, "supplier", "buyer", f"perm.2028.1.{first}-{last}"), "supplier")
    seen: list[int] = []
    after: int | None = None
    while True:
        page = api.get("/v1/accounts/buyer/holdings", limit=limit, **({} if after is None else {"after": after}))
        assert page["total"] == 30  # the account's, not the page's
        seen += [item["first"] for item in page["items"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == [1, 21, 41]
    past = api.get("/v1/accounts/buyer/holdings", limit=limit, after=41)  # no block after the last
    assert (past["items"], past["next"], past["total"]) == ([], None, 30)


def test_an_account_that_gave_everything_away_holds_a_total_of_zero(api: Api) -> None:
    api.submit(issuance(api, buffer=0), "supplier", "verifier")
    api.submit(commands.transfer(api.origin, "supplier", "buyer", "perm.2028.1.1-10"), "supplier")
    assert api.get("/v1/accounts/buyer/holdings", after=0)["total"] == 10  # a later page reads the kept total
    api.submit(commands.transfer(api.origin, "buyer", "supplier", "perm.2028.1.1-10"), "buyer")
    assert api.get("/v1/accounts/buyer/holdings") == {
        "account": "buyer",
        "status": "held",
        "total": 0,
        "items": [],
        "next": None,
    }
    assert api.get("/v1/accounts/buyer/holdings", after=0)["total"] == 0  # its row is gone: no units
    assert api.get("/v1/accounts/supplier/holdings", after=0)["total"] == 1000


def test_a_full_page_of_two_points_at_the_next(scenario: Api) -> None:
    page = scenario.get("/v1/batches/1/blocks", limit=2)
    assert page == {"items": BLOCKS[:2], "next": 61}
    assert scenario.get("/v1/batches/1/blocks", limit=2, after=61) == {"items": BLOCKS[2:4], "next": 251}
    assert scenario.get("/v1/batches/1/blocks", limit=2, after=561) == {"items": [], "next": None}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/accounts/no-such-account", "account-not-found"),
        ("/v1/accounts/no-such-account/holdings", "account-not-found"),
        ("/v1/batches/999", "batch-not-found"),
        ("/v1/batches/999/blocks", "batch-not-found"),
        ("/v1/retirements/12345", "retirement-not-found"),
        ("/v1/retirements/12", "retirement-not-found"),  # a cancellation, not a retirement
        ("/v1/projects/no-such-project", "project-not-found"),
        ("/v1/serials/not-a-serial/history", "serial-not-found"),
        ("/v1/serials/perm.2028.1.0100-200/history", "serial-not-found"),  # leading zero
        ("/v1/serials/perm.2028.1.200-100/history", "serial-not-found"),  # first after last
        ("/v1/serials/perm.2027.1.1-10/history", "batch-not-found"),  # batch 1 is of vintage 2028
        ("/v1/serials/perm.2028.9.1-10/history", "batch-not-found"),  # no batch 9
    ],
)
def test_what_does_not_exist_is_a_404_problem_naming_the_record(scenario: Api, path: str, code: str) -> None:
    assert_problem(scenario.client.get(path), 404, code)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/batches/1/blocks?limit=0",
        "/v1/retirements?limit=0",
        "/v1/cancellations?limit=0",
        "/v1/projects?limit=0",
        "/v1/accounts/buyer/holdings?limit=0",
        "/v1/retirements?limit=1001",
        "/v1/accounts/buyer/holdings?status=lost",
        "/v1/batches/1/blocks?after=-1",
    ],
)
def test_a_bad_query_parameter_is_a_422_problem_naming_it(scenario: Api, path: str) -> None:
    parameter = path.split("?")[1].split("=", maxsplit=1)[0]
    body = assert_problem(scenario.client.get(path), 422, "invalid-request", names=(parameter,))
    assert [e["field"] for e in body["errors"]] == [f"query.{parameter}"]


# --- inventories and claims ------------------------------------------------------------------------


def test_inventories_and_claims_go_through_the_write_api_with_their_own_problems(api: Api) -> None:
    emissions = [{"sector": "transport", "scope": 1, "tonnes": 1000}]
    first = api.submit(commands.inventory(api.origin, "city-a", 2029, emissions=emissions), "city-a")["index"]
    with writes_nothing(api):
        again = api.post(api.envelope(commands.inventory(api.origin, "city-a", 2029, emissions=emissions), "city-a"))
    assert_problem(again, 409, "inventory-exists", field="revises", facts={"index": first})
    with writes_nothing(api):
        shapeless = api.post(
            api.envelope(commands.inventory(api.origin, "city-a", 2030, emissions=[{"sector": "transport"}]), "city-a")
        )
    assert_problem(shapeless, 422, "invalid-event", field="emissions.0.scope")
    api.submit(commands.policy(api.origin, "operator", retirement_window_days=0), "operator")
    api.submit(issuance(api), "supplier", "verifier")
    retire = commands.retire(
        api.origin, "supplier", "perm.2028.1.101-110", "compensation", "FI-19", beneficiary_account="city-a", year=2020
    )
    retirement = api.submit(retire, "supplier")["index"]
    claim = commands.claim(api.origin, "city-a", retirement, "perm.2028.1.101-110", 2020)
    with writes_nothing(api):
        late = api.post(api.envelope(claim, "city-a"))
    assert_problem(late, 422, "retired-too-late", field="retirement", names=("2020-12-31",))
