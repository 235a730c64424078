"""Commands: the unsigned events a party asks the registry to accept, built field by field.

Each function returns the JSON object of one event type (see :mod:`registry.events`), with
``registry`` set to the log's origin and a fresh idempotency ``id`` (a UUIDv7, see
:mod:`registry.event_ids`) unless one is given; :func:`sign` wraps it in a DSSE envelope.
The CLI, the demo and the tests all build events here, so the format has one writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger import b64, dsse
from ledger.keys import SignerKey
from registry.event_ids import new_event_id
from registry.statements import sign_statement

Command = dict[str, Any]


def _base(kind: str, registry: str, event_id: str | None) -> Command:
    return {"type": kind, "registry": registry, "id": event_id or new_event_id()}


def public_key(key: SignerKey) -> str:
    """The base64 public key that account and key events carry."""
    return b64.encode(key.verifier.public_key)


def open_account(
    registry: str,
    *,
    operator: str,
    account: str,
    role: str,
    name: str,
    keys: Sequence[str],
    jurisdiction: dict[str, str] | None = None,
    boundary: dict[str, str] | None = None,
    event_id: str | None = None,
) -> Command:
    command = _base("account", registry, event_id) | {
        "operator": operator,
        "account": account,
        "role": role,
        "name": name,
        "keys": list(keys),
    }
    if jurisdiction is not None:
        command["jurisdiction"] = jurisdiction
    if boundary is not None:
        command["boundary"] = boundary
    return command


def genesis(registry: str, operator: str, key: SignerKey, *, name: str = "Registry operator") -> Command:
    """The first event of a registry: the operator opens its own account, binding ``key`` (which signs it)."""
    return open_account(
        registry,
        operator=operator,
        account=operator,
        role="operator",
        name=name,
        keys=[public_key(key)],
        event_id="genesis",
    )


def bind_key(registry: str, operator: str, account: str, key: str, *, event_id: str | None = None) -> Command:
    return _base("key-binding", registry, event_id) | {"operator": operator, "account": account, "key": key}


def rotate_key(
    registry: str, operator: str, account: str, revoke: str, key: str, *, event_id: str | None = None
) -> Command:
    return _base("key-rotation", registry, event_id) | {
        "operator": operator,
        "account": account,
        "revoke": revoke,
        "key": key,
    }


def revoke_key(
    registry: str, operator: str, account: str, revoke: str, reason: str, *, event_id: str | None = None
) -> Command:
    return _base("key-revocation", registry, event_id) | {
        "operator": operator,
        "account": account,
        "revoke": revoke,
        "reason": reason,
    }


def register_project(
    registry: str,
    *,
    project: str,
    supplier: str,
    name: str,
    method: str,
    unit_type: str,
    location: dict[str, str],
    methodology: str,
    scheme: str,
    external_ids: Sequence[str] = (),
    event_id: str | None = None,
) -> Command:
    return _base("project", registry, event_id) | {
        "project": project,
        "supplier": supplier,
        "name": name,
        "method": method,
        "unit_type": unit_type,
        "location": location,
        "methodology": methodology,
        "scheme": scheme,
        "external_ids": list(external_ids),
    }


def issue(
    registry: str,
    *,
    project: str,
    supplier: str,
    verifier: str,
    monitoring_period: tuple[str, str],
    vintage: int,
    quantity: int,
    report_sha256: str,
    buffer: int = 0,
    durability_years: int = 1000,
    expires: str | None = None,
    corresponding_adjustment: bool | None = None,
    event_id: str | None = None,
) -> Command:
    command = _base("issuance", registry, event_id) | {
        "project": project,
        "supplier": supplier,
        "verifier": verifier,
        "monitoring_period": {"start": monitoring_period[0], "end": monitoring_period[1]},
        "vintage": vintage,
        "quantity": quantity,
        "buffer": buffer,
        "durability_years": durability_years,
        "report_sha256": report_sha256,
    }
    if expires is not None:
        command["expires"] = expires
    if corresponding_adjustment is not None:
        command["corresponding_adjustment"] = corresponding_adjustment
    return command


def transfer(registry: str, sender: str, to: str, serial: str, *, event_id: str | None = None) -> Command:
    return _base("transfer", registry, event_id) | {"from": sender, "to": to, "serial": serial}


def sell(
    registry: str,
    sender: str,
    to: str,
    serial: str,
    *,
    price: tuple[str, str] | None = None,
    terms_sha256: str | None = None,
    event_id: str | None = None,
) -> Command:
    command = _base("sale", registry, event_id) | {"from": sender, "to": to, "serial": serial}
    if price is not None:
        command["price"] = {"amount": price[0], "currency": price[1]}
    if terms_sha256 is not None:
        command["terms_sha256"] = terms_sha256
    return command


def retire(
    registry: str,
    holder: str,
    serial: str,
    purpose: str,
    jurisdiction: str,
    *,
    beneficiary_account: str | None = None,
    beneficiary_name: str | None = None,
    year: int | None = None,
    period: tuple[str, str] | None = None,
    event_id: str | None = None,
) -> Command:
    # Whatever is given goes in, so that a contradictory command is refused by the event model.
    beneficiary = {k: v for k, v in (("account", beneficiary_account), ("name", beneficiary_name)) if v is not None}
    claim_period: dict[str, Any] = {"year": year} if year is not None else {}
    if period is not None:
        claim_period |= {"start": period[0], "end": period[1]}
    return _base("retirement", registry, event_id) | {
        "holder": holder,
        "serial": serial,
        "beneficiary": beneficiary,
        "purpose": purpose,
        "period": claim_period,
        "jurisdiction": jurisdiction,
    }


def cancel(
    registry: str,
    operator: str,
    reason: str,
    note: str,
    *,
    serial: str | None = None,
    project: str | None = None,
    quantity: int | None = None,
    destination: dict[str, str] | None = None,
    event_id: str | None = None,
) -> Command:
    command = _base("cancellation", registry, event_id) | {"operator": operator, "reason": reason, "note": note}
    for field, value in (
        ("serial", serial),
        ("project", project),
        ("quantity", quantity),
        ("destination", destination),
    ):
        if value is not None:
            command[field] = value
    return command


def sign(command: Command, signers: Sequence[SignerKey]) -> dsse.Envelope:
    """Sign ``command`` as a registry event (DSSE, RFC 8785 payload) by every key in ``signers``."""
    return sign_statement(command, signers)


def claim(registry: str, city: str, retirement: int, serial: str, year: int, *, event_id: str | None = None) -> Command:
    """A city's ``claim`` of the units ``serial`` retired at log index ``retirement``, for ``year``."""
    return _base("claim", registry, event_id) | {"city": city, "retirement": retirement, "serial": serial, "year": year}


def inventory(
    registry: str,
    city: str,
    year: int,
    *,
    emissions: Sequence[dict[str, Any]],
    removals: Sequence[dict[str, Any]] = (),
    base_year: bool = False,
    gwp: str = "AR5",
    period: tuple[str, str] | None = None,
    revises: int | None = None,
    event_id: str | None = None,
) -> Command:
    """A city's ``inventory`` for ``year``: emission lines ``{"sector", "scope", "tonnes" | "notation",
    "subsector"?}`` and removal lines ``{"method", "durability", "tonnes", "project"?, "description"?}``."""
    command = _base("inventory", registry, event_id) | {
        "city": city,
        "year": year,
        "base_year": base_year,
        "gwp": gwp,
        "emissions": list(emissions),
        "removals": list(removals),
    }
    if period is not None:
        command["period"] = {"start": period[0], "end": period[1]}
    if revises is not None:
        command["revises"] = revises
    return command


def policy(registry: str, operator: str, *, retirement_window_days: int | None, event_id: str | None = None) -> Command:
    """The operator's ``policy``: the claim rules in force from its log index on (registry.policy)."""
    command = _base("policy", registry, event_id) | {"operator": operator}
    if retirement_window_days is not None:
        command["retirement_window_days"] = retirement_window_days
    return command


def import_part(
    registry: str,
    operator: str,
    *,
    source: str,
    file_name: str,
    file_sha256: str,
    file_kind: str,
    rows: int,
    part: int,
    parts: int,
    records: Sequence[dict[str, Any]],
    problems: Sequence[dict[str, Any]],
    event_id: str | None = None,
) -> Command:
    """One ``import`` event: part ``part`` of ``parts`` of another registry's export, rows normalised.

    The default id is derived from the file's digest and the part, so importing the same
    file again resubmits the same events (and is answered with their original indices).
    """
    return _base("import", registry, event_id or f"import-{file_sha256[:32]}-{part}") | {
        "operator": operator,
        "source": source,
        "file_name": file_name,
        "file_sha256": file_sha256,
        "file_kind": file_kind,
        "rows": rows,
        "part": part,
        "parts": parts,
        "records": [_without_nulls(r) for r in records],
        "problems": [_without_nulls(p) for p in problems],
    }


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}
