"""Strict parsing of event payloads: every refusal names its field; valid payloads round-trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger import b64, canonical
from registry import commands
from registry.commands import Command
from registry.errors import InvalidEventError
from registry.events import EVENT_TYPES, MAX_QUANTITY, Issued, parse_event, to_payload

ORIGIN = "test.example/log"
KEY = b64.encode(bytes(range(32)))
OTHER_KEY = b64.encode(bytes(range(32, 64)))
KEYID = "0123456789abcdef0123456789abcdef"
SHA = "ab" * 32
JURISDICTION = {"country": "FI", "subdivision": "FI-19", "municipality": "853"}
BOUNDARY = {"geojson_sha256": SHA, "description": "city boundary"}


def raw(value: Any) -> bytes:
    """JSON bytes in canonical form for ASCII keys and integers, without the canonical encoder's checks."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def issuance(**changes: Any) -> Command:
    command = commands.issue(
        ORIGIN,
        project="perm",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2028-01-01", "2028-12-31"),
        vintage=2028,
        quantity=1000,
        buffer=100,
        report_sha256=SHA,
        event_id="issue-1",
    )
    return command | changes


def transfer(**changes: Any) -> Command:
    return commands.transfer(ORIGIN, "city-a", "buyer", "perm.2028.1.1-100", event_id="transfer-1") | changes


def retirement(**changes: Any) -> Command:
    command = commands.retire(
        ORIGIN, "city-a", "perm.2028.1.1-10", "compensation", "FI-19-853", beneficiary_account="city-a", year=2029
    )
    return command | {"id": "retire-1"} | changes


VALID: dict[str, Command] = {
    "account-buyer": commands.open_account(
        ORIGIN, operator="operator", account="buyer", role="buyer", name="Buyer", keys=[KEY, OTHER_KEY], event_id="a-1"
    ),
    "account-city": commands.open_account(
        ORIGIN,
        operator="operator",
        account="city-a",
        role="city",
        name="City of Turku",
        keys=[KEY],
        jurisdiction=JURISDICTION,
        boundary=BOUNDARY,
        event_id="a-2",
    ),
    "key-binding": commands.bind_key(ORIGIN, "operator", "buyer", KEY, event_id="k-1"),
    "key-rotation": commands.rotate_key(ORIGIN, "operator", "buyer", KEYID, KEY, event_id="k-2"),
    "key-revocation": commands.revoke_key(ORIGIN, "operator", "buyer", KEYID, "lost laptop", event_id="k-3"),
    "project": commands.register_project(
        ORIGIN,
        project="fi-biochar-1",
        supplier="supplier",
        name="Biochar plant",
        method="biochar",
        unit_type="permanent-removal",
        location={
            "country": "FI",
            "subdivision": "FI-19",
            "municipality": "853",
            "latitude": "60.45",
            "longitude": "-22.266",
        },
        methodology="Puro.earth biochar 2022",
        scheme="Puro.earth",
        external_ids=["PURO 12345"],
        event_id="p-1",
    ),
    "project-minimal": commands.register_project(
        ORIGIN,
        project="farm",
        supplier="supplier",
        name="Farm",
        method="soil-carbon",
        unit_type="carbon-farming-sequestration",
        location={"country": "FI"},
        methodology="m",
        scheme="s",
        event_id="p-2",
    ),
    "issuance": issuance(),
    "issuance-temporary": issuance(buffer=0, expires="2036-12-31", durability_years=8),
    "issuance-max-quantity": issuance(quantity=MAX_QUANTITY, buffer=MAX_QUANTITY - 1),
    "transfer": transfer(),
    "sale-price": commands.sell(ORIGIN, "city-a", "buyer", "perm.2028.1.1-5", price=("1250.50", "EUR"), event_id="s"),
    "sale-terms": commands.sell(ORIGIN, "city-a", "buyer", "perm.2028.1.1-5", terms_sha256=SHA, event_id="s-2"),
    "retirement-year": retirement(),
    "retirement-period": commands.retire(
        ORIGIN,
        "buyer",
        "perm.2028.1.11-20",
        "voluntary contribution",
        "FI",
        beneficiary_name="Example Oy",
        period=("2029-01-01", "2029-06-30"),
        event_id="retire-2",
    ),
    "cancellation-invalidation": commands.cancel(
        ORIGIN, "operator", "invalidation", "issued in error", serial="perm.2028.1.1-5", event_id="c-1"
    ),
    "cancellation-reversal": commands.cancel(
        ORIGIN, "operator", "reversal", "fire", project="perm", quantity=40, serial="perm.2028.1.1-50", event_id="c-2"
    ),
    "cancellation-reversal-buffer-only": commands.cancel(
        ORIGIN, "operator", "reversal", "leak", project="perm", quantity=5, event_id="c-3"
    ),
    "cancellation-export": commands.cancel(
        ORIGIN,
        "operator",
        "export",
        "moved to another registry",
        serial="perm.2028.1.1-5",
        destination={"registry": "other.example/log", "account": "buyer"},
        event_id="c-4",
    ),
    "claim": commands.claim(ORIGIN, "city-a", 17, "perm.2028.1.1-5", 2029, event_id="claim-1"),
    "import": commands.import_part(
        ORIGIN,
        "operator",
        source="verra",
        file_name="transactions.csv",
        file_sha256=SHA,
        file_kind="transactions",
        rows=2,
        part=1,
        parts=1,
        records=[
            {
                "kind": "issuance",
                "row": 1,
                "project": "VCS 1340",
                "country": "ET",
                "quantity": 425,
                "vintage": 2020,
                "period_start": "2020-01-01",
                "period_end": "2020-12-31",
                "date": "2026-04-03",
                "serial": {
                    "text": "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1",
                    "block": "VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1",
                    "first": 941467007,
                    "last": 941467431,
                },
            }
        ],
        problems=[{"row": 2, "field": "Serial Number", "reason": "does not parse"}],
    ),
    "inventory": commands.inventory(
        ORIGIN,
        "city-a",
        2014,
        period=("2013-07-01", "2014-06-30"),
        emissions=[
            {"sector": "stationary-energy", "subsector": "buildings", "scope": 2, "tonnes": 30000},
            {"sector": "transport", "scope": 3, "notation": "NE"},
        ],
        removals=[{"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 400}],
        event_id="inventory-1",
    ),
    "policy": commands.policy(ORIGIN, "operator", retirement_window_days=365, event_id="policy-1"),
}


def test_every_event_type_has_a_valid_example() -> None:
    assert {command["type"] for command in VALID.values()} == set(EVENT_TYPES)


@pytest.mark.parametrize("command", VALID.values(), ids=VALID.keys())
def test_valid_payload_round_trips(command: Command) -> None:
    payload = canonical.encode(command)
    event = parse_event(payload)
    assert event.type == command["type"]
    assert to_payload(event) == payload
    assert parse_event(to_payload(event)) == event


# --- refusals --------------------------------------------------------------------------------


def refusal(payload: bytes) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as refused:
        parse_event(payload)
    return refused.value


def names(error: InvalidEventError, field: str) -> bool:
    """Whether ``error`` names ``field``: as its field, or (for the canonical decoder) by JSON path."""
    return error.field == field or error.field.startswith(field + ".") or f"$.{field}" in str(error)


def without(command: Command, field: str) -> Command:
    return {k: v for k, v in command.items() if k != field}


NAMED: dict[str, tuple[bytes, str]] = {
    "unknown-top-level-field": (raw(transfer(colour="green")), "colour"),
    "unknown-nested-field": (
        raw(issuance(monitoring_period={"start": "2028-01-01", "end": "2028-12-31", "note": "x"})),
        "monitoring_period.note",
    ),
    "unknown-field-in-beneficiary": (raw(retirement(beneficiary={"account": "city-a", "x": 1})), "beneficiary.x"),
    "quantity-zero": (raw(issuance(quantity=0, buffer=0)), "quantity"),
    "quantity-negative": (raw(issuance(quantity=-5, buffer=0)), "quantity"),
    "quantity-string": (raw(issuance(quantity="1000")), "quantity"),
    "quantity-bool": (raw(issuance(quantity=True, buffer=0)), "quantity"),
    "quantity-null": (raw(issuance(quantity=None)), "quantity"),
    "vintage-string": (raw(issuance(vintage="2028")), "vintage"),
    "cancellation-quantity-zero": (raw(VALID["cancellation-reversal"] | {"quantity": 0}), "quantity"),
    "monitoring-period-end-before-start": (
        raw(issuance(monitoring_period={"start": "2028-12-31", "end": "2028-01-01"})),
        "monitoring_period",
    ),
    "claim-period-end-before-start": (raw(retirement(period={"start": "2029-06-30", "end": "2029-01-01"})), "period"),
    "buffer-equals-quantity": (raw(issuance(buffer=1000)), "buffer"),
    "buffer-above-quantity": (raw(issuance(buffer=1001)), "buffer"),
    "serial-first-after-last": (raw(transfer(serial="perm.2028.1.100-1")), "serial"),
    "serial-malformed": (raw(transfer(serial="perm.2028.01.1-100")), "serial"),
    "serial-not-a-string": (raw(transfer(serial=5)), "serial"),
    "unknown-type": (raw(transfer(type="minting")), "type"),
    "missing-type": (raw(without(transfer(), "type")), "type"),
    "missing-registry": (raw(without(transfer(), "registry")), "registry"),
    "date-not-iso": (raw(issuance(monitoring_period={"start": "2028-1-1", "end": "2028-12-31"})), "monitoring_period"),
    "city-without-jurisdiction": (raw(without(VALID["account-city"], "jurisdiction")), "jurisdiction"),
}


@pytest.mark.parametrize(("payload", "field"), NAMED.values(), ids=NAMED.keys())
def test_refusal_names_the_field(payload: bytes, field: str) -> None:
    error = refusal(payload)
    assert names(error, field), f"expected the error to name {field!r}; got field {error.field!r}: {error}"
    assert error.errors[0]["field"] == error.field


def test_quantity_above_2_53_minus_1_is_refused_by_the_canonical_decoder() -> None:
    error = refusal(raw(issuance(quantity=MAX_QUANTITY + 1)))
    assert error.field == "payload"
    assert "$.quantity" in str(error)


def test_quantity_at_2_53_minus_1_is_accepted() -> None:
    event = parse_event(raw(issuance(quantity=MAX_QUANTITY)))
    assert isinstance(event, Issued)
    assert event.quantity == MAX_QUANTITY


@pytest.mark.parametrize("number", [b"1000.0", b"1000.5", b"1e3", b"1E3"])
def test_float_quantity_is_refused_naming_the_field(number: bytes) -> None:
    payload = raw(issuance()).replace(b'"quantity":1000', b'"quantity":' + number)
    assert payload != raw(issuance())
    error = refusal(payload)
    assert "float" in str(error)
    assert names(error, "quantity"), f"expected the error to name 'quantity'; got field {error.field!r}: {error}"


def _reordered(command: Command) -> bytes:
    return json.dumps(dict(sorted(command.items(), reverse=True)), separators=(",", ":")).encode()


NON_CANONICAL: dict[str, bytes] = {
    "keys-out-of-order": _reordered(transfer()),
    "spaces-after-separators": json.dumps(transfer(), sort_keys=True).encode(),
    "indented": json.dumps(transfer(), sort_keys=True, indent=2).encode(),
    "trailing-newline": raw(transfer()) + b"\n",
    "leading-space": b" " + raw(transfer()),
    "escaped-ascii": raw(transfer()).replace(b'"buyer"', b'"\\u0062uyer"'),
    "duplicate-key": raw(transfer()).replace(b'{"from"', b'{"from":"city-b","from"'),
    "not-utf-8": raw(transfer()).replace(b"city-a", b"city-\xe4"),
    "not-json": b"{not json",
    "json-array": b"[]",
    "json-string": b'"transfer"',
}


@pytest.mark.parametrize("payload", NON_CANONICAL.values(), ids=NON_CANONICAL.keys())
def test_non_canonical_bytes_are_refused(payload: bytes) -> None:
    assert payload != raw(transfer())
    error = refusal(payload)
    assert error.field == "payload"


def test_canonical_bytes_of_the_same_event_are_accepted() -> None:
    # The control for the non-canonical cases: the same value, canonically encoded, parses.
    assert raw(transfer()) == canonical.encode(transfer())
    assert parse_event(raw(transfer())).type == "transfer"
