"""The CLI's event verbs: build an event, sign it with key files, submit it, print its log index.

Each verb (``registry open-account``, ``issue``, ``sell``, ``retire``, …) only maps its
options to a :mod:`registry.commands` builder. What every verb shares — the signer key
files, where to submit (``--url`` over HTTP or ``--data-dir`` directly), the log origin, the
idempotency id, the receipt file and ``--dry-run`` — is declared once in
:class:`EventOptions` and handled by one path, :func:`_submit`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Protocol

import httpx
import typer

from api.console import console, fail
from ledger import b64
from ledger.dsse import Envelope
from ledger.errors import LedgerError
from ledger.keys import SignerKey, VerifierKey, dsse_key_id
from registry import commands
from registry.datadir import DataDirError
from registry.errors import RegistryError
from registry.node import Node, open_node
from registry.vocabulary import CancellationReason, RemovalMethod, Role, UnitType

Builder = Callable[..., commands.Command]
"""A command builder still waiting for the log's origin (positional) and ``event_id``."""


def _submission(*names: str, help: str, metavar: str | None = None, envvar: str | None = None) -> Any:
    """A typer option listed under "Signing and submission" in every verb's help."""
    return typer.Option(*names, help=help, metavar=metavar, envvar=envvar, rich_help_panel="Signing and submission")


@dataclass(frozen=True)
class EventOptions:
    """The options every event verb takes, besides the event's own fields."""

    keys: Annotated[
        list[Path],
        _submission(
            "--key", metavar="FILE", help="A signer key file (as written by 'registry keygen'); repeat for co-signers."
        ),
    ]
    url: Annotated[str | None, _submission(metavar="URL", help="Submit over HTTP to the registry at URL.")] = None
    data_dir: Annotated[
        Path | None,
        _submission("--data-dir", metavar="DIR", help="Submit directly to the registry in this data directory."),
    ] = None
    database_url: Annotated[
        str | None,
        _submission(
            "--database-url",
            envvar="REGISTRY_DATABASE_URL",
            help="With --data-dir: use this database instead of DIR/registry.db.",
        ),
    ] = None
    registry: Annotated[
        str | None,
        _submission(metavar="ORIGIN", help="The log origin the event is for; default: the registry's own."),
    ] = None
    event_id: Annotated[
        str | None,
        _submission(
            "--id", help="Idempotency id: resubmitting the same event with it changes nothing. Default: a new UUID."
        ),
    ] = None
    receipt: Annotated[
        Path | None, _submission(metavar="FILE", help="Write the event's C2SP tlog-proof receipt to this file.")
    ] = None
    dry_run: Annotated[bool, _submission(help="Print the signed envelope JSON and submit nothing.")] = False


# --- the shared path -------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """What the registry answered for an accepted event."""

    index: int
    id: str
    type: str
    duplicate: bool
    receipt: str


class Channel(Protocol):
    """Where events go: a registry over HTTP or a data directory opened in this process."""

    def origin(self) -> str: ...

    def submit(self, envelope: Envelope) -> Accepted: ...


@dataclass(frozen=True)
class Remote:
    """A registry served over HTTP (``POST /v1/events``)."""

    client: httpx.Client

    def origin(self) -> str:
        response = self._request("GET", "/log/checkpoint")
        if response.status_code != 200:
            raise fail(f"cannot read {response.url}: HTTP {response.status_code}")
        return response.text.split("\n", 1)[0]

    def submit(self, envelope: Envelope) -> Accepted:
        response = self._request("POST", "/v1/events", json=envelope.to_json())
        if response.status_code not in (200, 201):
            raise fail(f"refused: {_problem(response)}")
        body = response.json()
        return Accepted(body["index"], body["id"], body["type"], body["duplicate"], body["receipt"])

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach {self.client.base_url}: {exc}") from None


@dataclass(frozen=True)
class Local:
    """A registry's data directory, opened in this process."""

    node: Node

    def origin(self) -> str:
        return self.node.origin

    def submit(self, envelope: Envelope) -> Accepted:
        try:
            applied = self.node.registry.submit(envelope)
            receipt = self.node.reader.receipt(applied.index, self.node.latest_checkpoint())
        except RegistryError as exc:
            raise fail(f"refused: {exc}") from None
        except LedgerError as exc:
            raise fail(str(exc)) from None
        return Accepted(applied.index, applied.event_id, applied.type, applied.duplicate, receipt.encode())


def _problem(response: httpx.Response) -> str:
    """The ``detail`` and ``field`` of a problem+json answer, or the status and body of any other."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or "detail" not in problem:
        return f"HTTP {response.status_code}: {response.text.strip()[:500]}"
    field = problem.get("field")
    return str(problem["detail"]) + (f" (field: {field})" if field else "")


@contextmanager
def _channel(options: EventOptions) -> Iterator[Channel]:
    if (options.url is None) == (options.data_dir is None):
        raise fail("give exactly one of --url or --data-dir")
    if options.url is not None:
        with httpx.Client(base_url=options.url.rstrip("/"), timeout=30.0) as client:
            yield Remote(client)
        return
    assert options.data_dir is not None
    try:
        node = open_node(options.data_dir, database_url=options.database_url)
    except (DataDirError, LedgerError, RegistryError) as exc:
        raise fail(str(exc)) from None
    try:
        yield Local(node)
    finally:
        node.close()


def _signers(files: list[Path]) -> list[SignerKey]:
    signers = []
    for file in files:
        try:
            signers.append(SignerKey.parse(file.read_text()))
        except (OSError, LedgerError) as exc:
            raise fail(f"cannot read signer key {file}: {exc}") from None
    return signers


def _submit(build: Builder, options: EventOptions) -> None:
    """Sign the event ``build`` makes for the registry's origin, submit it, and report the outcome."""
    signers = _signers(options.keys)
    with _channel(options) as channel:
        origin = options.registry or channel.origin()
        envelope = commands.sign(build(origin, event_id=options.event_id), signers)
        if options.dry_run:
            print(json.dumps(envelope.to_json()))
            return
        accepted = channel.submit(envelope)
    print(
        json.dumps({"index": accepted.index, "id": accepted.id, "type": accepted.type, "duplicate": accepted.duplicate})
    )
    if accepted.duplicate:
        console.print(
            f"{accepted.type} {accepted.id} was already accepted at log index {accepted.index}: nothing changed"
        )
    else:
        console.print(f"[bold green]accepted[/]: {accepted.type} {accepted.id} at log index {accepted.index}")
    if options.receipt is not None:
        try:
            options.receipt.write_text(accepted.receipt)
        except OSError as exc:
            raise fail(f"the event is logged, but its receipt could not be written: {exc}") from None
        console.print(f"receipt written to {options.receipt}")


# --- reading options -------------------------------------------------------------------------


def _exactly_one(options: dict[str, object]) -> None:
    if sum(value is not None for value in options.values()) != 1:
        raise fail(f"give exactly one of {' or '.join(options)}")


def _present(**fields: str | None) -> dict[str, str]:
    """The fields that were given."""
    return {name: value for name, value in fields.items() if value is not None}


def _read_public_key(file: Path) -> VerifierKey:
    try:
        text = file.read_text().strip()
        return SignerKey.parse(text).verifier if text.startswith("PRIVATE+KEY+") else VerifierKey.parse(text)
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot read a key from {file}: {exc}") from None


def _public_key(public_key: str | None, key_file: Path | None) -> str:
    """The base64 public key given as --public-key or read from --key-file."""
    _exactly_one({"--public-key": public_key, "--key-file": key_file})
    if key_file is not None:
        return b64.encode(_read_public_key(key_file).public_key)
    assert public_key is not None
    return public_key


def _key_id(value: str) -> str:
    """A DSSE key id as given, or the key id of the key in the file ``value`` names."""
    path = Path(value)
    return dsse_key_id(_read_public_key(path).public_key) if path.is_file() else value


def _report_digest(report: Path | None, report_sha256: str | None) -> str:
    """The SHA-256 given as --report-sha256, or that of the --report file."""
    _exactly_one({"--report": report, "--report-sha256": report_sha256})
    if report is None:
        assert report_sha256 is not None
        return report_sha256
    try:
        return hashlib.sha256(report.read_bytes()).hexdigest()
    except OSError as exc:
        raise fail(f"cannot read {report}: {exc}") from None


def _claim_period(year: int | None, start: str | None, end: str | None) -> tuple[str, str] | None:
    """The --start and --end dates of a claim period, or None for a --year."""
    _exactly_one({"--year": year, "--start/--end": start or end})
    if year is not None:
        return None
    if start is None or end is None:
        raise fail("give both --start and --end")
    return start, end


# --- the verbs -------------------------------------------------------------------------------

_VERBS: list[tuple[str, Callable[..., Builder]]] = []


def _verb(name: str) -> Callable[[Callable[..., Builder]], Callable[..., Builder]]:
    def add(verb: Callable[..., Builder]) -> Callable[..., Builder]:
        _VERBS.append((name, verb))
        return verb

    return add


Operator = Annotated[str, typer.Option(help="The operator account that signs.")]
Account = Annotated[str, typer.Option(help="The account id.")]
PublicKeyOption = Annotated[str | None, typer.Option(help="A public key: base64 of the 32 Ed25519 bytes.")]
KeyFile = Annotated[
    Path | None, typer.Option(help="A key file to take the public key from (a verifier key or a signer key).")
]
Revoke = Annotated[str, typer.Option(help="The DSSE key id of the key to revoke, or a key file holding it.")]
SerialOption = Annotated[str, typer.Option(help="Serial range <project>.<vintage>.<batch>.<first>-<last>.")]
Country = Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 country code, e.g. FI.")]
Subdivision = Annotated[str | None, typer.Option(help="ISO 3166-2 subdivision code, e.g. FI-19.")]
Municipality = Annotated[str | None, typer.Option(help="Municipality code (e.g. EU LAU), e.g. 853.")]
DateOption = Annotated[str | None, typer.Option(help="A date YYYY-MM-DD.")]


@_verb("open-account")
def open_account(
    *,
    operator: Operator = "operator",
    account: Account,
    role: Annotated[Role, typer.Option(help="What the account may do.")],
    name: Annotated[str, typer.Option(help="The account holder's name.")],
    public_key: Annotated[list[str] | None, typer.Option(help="A key to bind (base64); repeatable.")] = None,
    key_file: Annotated[
        list[Path] | None, typer.Option(help="A verifier or signer key file whose public key to bind; repeatable.")
    ] = None,
    country: Country = None,
    subdivision: Subdivision = None,
    municipality: Municipality = None,
    boundary_sha256: Annotated[str | None, typer.Option(help="A city's boundary: SHA-256 of its GeoJSON.")] = None,
    boundary_description: Annotated[str | None, typer.Option(help="A city's boundary, in words.")] = None,
) -> Builder:
    """Open an account with a role and its first keys (signed by the operator).

    A city account also carries its jurisdiction (--country, --subdivision, --municipality)
    and its boundary (--boundary-sha256, --boundary-description).
    """
    files = [b64.encode(_read_public_key(file).public_key) for file in key_file or []]
    return partial(
        commands.open_account,
        operator=operator,
        account=account,
        role=role.value,
        name=name,
        keys=[*(public_key or []), *files],
        jurisdiction=_present(country=country, subdivision=subdivision, municipality=municipality) or None,
        boundary=_present(geojson_sha256=boundary_sha256, description=boundary_description) or None,
    )


@_verb("bind-key")
def bind_key(
    *,
    operator: Operator = "operator",
    account: Account,
    public_key: PublicKeyOption = None,
    key_file: KeyFile = None,
) -> Builder:
    """Bind another key to an account (signed by the operator); give --public-key or --key-file."""
    key = _public_key(public_key, key_file)
    return partial(commands.bind_key, operator=operator, account=account, key=key)


@_verb("rotate-key")
def rotate_key(
    *,
    operator: Operator = "operator",
    account: Account,
    revoke: Revoke,
    public_key: PublicKeyOption = None,
    key_file: KeyFile = None,
) -> Builder:
    """Bind a new key to an account and revoke an old one, atomically (signed by the operator)."""
    key = _public_key(public_key, key_file)
    return partial(commands.rotate_key, operator=operator, account=account, revoke=_key_id(revoke), key=key)


@_verb("revoke-key")
def revoke_key(
    *,
    operator: Operator = "operator",
    account: Account,
    revoke: Revoke,
    reason: Annotated[str, typer.Option(help="Why the key is revoked.")],
) -> Builder:
    """Revoke a key of an account: its signatures are refused from now on (signed by the operator)."""
    return partial(commands.revoke_key, operator=operator, account=account, revoke=_key_id(revoke), reason=reason)


@_verb("register-project")
def register_project(
    *,
    project: Annotated[str, typer.Option(help="The project id (a lowercase slug).")],
    supplier: Annotated[str, typer.Option(help="The supplier account that develops it and signs.")],
    name: Annotated[str, typer.Option(help="The project's name.")],
    method: Annotated[RemovalMethod, typer.Option(help="How it removes (or avoids) CO2.")],
    unit_type: Annotated[UnitType, typer.Option(help="The type of unit it issues.")],
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 country code of its location.")],
    subdivision: Subdivision = None,
    municipality: Municipality = None,
    latitude: Annotated[str | None, typer.Option(help="Decimal latitude, e.g. 60.3833.")] = None,
    longitude: Annotated[str | None, typer.Option(help="Decimal longitude, e.g. 23.1250.")] = None,
    methodology: Annotated[str, typer.Option(help="The certification methodology.")],
    scheme: Annotated[str, typer.Option(help="The certification scheme.")],
    external_id: Annotated[
        list[str] | None, typer.Option(help="Its id in another registry, e.g. 'VCS 1340'; repeatable.")
    ] = None,
) -> Builder:
    """Register a project that will issue units (signed by its supplier)."""
    location = _present(
        country=country, subdivision=subdivision, municipality=municipality, latitude=latitude, longitude=longitude
    )
    return partial(
        commands.register_project,
        project=project,
        supplier=supplier,
        name=name,
        method=method.value,
        unit_type=unit_type.value,
        location=location,
        methodology=methodology,
        scheme=scheme,
        external_ids=external_id or [],
    )


@_verb("issue")
def issue(
    *,
    project: Annotated[str, typer.Option(help="The project that issues.")],
    supplier: Annotated[str, typer.Option(help="The project's supplier account (signs).")],
    verifier: Annotated[str, typer.Option(help="The accredited verifier account (co-signs).")],
    start: Annotated[str, typer.Option(help="First day of the monitoring period, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last day of the monitoring period, YYYY-MM-DD.")],
    vintage: Annotated[int, typer.Option(help="The vintage year, within the monitoring period.")],
    quantity: Annotated[int, typer.Option(help="Tonnes issued, the buffer included.")],
    buffer: Annotated[int, typer.Option(help="Tonnes of the quantity set aside in the buffer pool.")] = 0,
    durability_years: Annotated[int, typer.Option(help="How long the storage is expected to last.")] = 1000,
    expires: DateOption = None,
    report_sha256: Annotated[str | None, typer.Option(help="SHA-256 (hex) of the verification report.")] = None,
    report: Annotated[Path | None, typer.Option(help="The verification report file, to hash.")] = None,
) -> Builder:
    """Issue verified units of a project (signed by the supplier AND the verifier: give two --key).

    Give the verification report as --report FILE or its digest as --report-sha256.
    """
    return partial(
        commands.issue,
        project=project,
        supplier=supplier,
        verifier=verifier,
        monitoring_period=(start, end),
        vintage=vintage,
        quantity=quantity,
        report_sha256=_report_digest(report, report_sha256),
        buffer=buffer,
        durability_years=durability_years,
        expires=expires,
    )


Sender = Annotated[str, typer.Option("--from", help="The account that holds the units (signs).")]
Receiver = Annotated[str, typer.Option(help="The account that receives them.")]


@_verb("transfer")
def transfer(*, sender: Sender, to: Receiver, serial: SerialOption) -> Builder:
    """Move units (all or part of a held block) to another account (signed by the holder)."""
    return partial(commands.transfer, sender=sender, to=to, serial=serial)


@_verb("sell")
def sell(
    *,
    sender: Sender,
    to: Receiver,
    serial: SerialOption,
    price: Annotated[str | None, typer.Option(help="The total price, a decimal amount such as 1500.00.")] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 currency of --price.")] = "EUR",
    terms_sha256: Annotated[
        str | None, typer.Option(help="Confidential terms: SHA-256 of the salted terms both parties hold.")
    ] = None,
) -> Builder:
    """Sell units to another account: a transfer with public terms (--price) or committed ones (--terms-sha256)."""
    _exactly_one({"--price": price, "--terms-sha256": terms_sha256})
    return partial(
        commands.sell,
        sender=sender,
        to=to,
        serial=serial,
        price=None if price is None else (price, currency),
        terms_sha256=terms_sha256,
    )


@_verb("retire")
def retire(
    *,
    holder: Annotated[str, typer.Option(help="The account that holds the units (signs).")],
    serial: SerialOption,
    purpose: Annotated[str, typer.Option(help="What the retirement is for.")],
    jurisdiction: Annotated[
        str, typer.Option(help="Where the claim is made: country, subdivision or subdivision-municipality.")
    ],
    beneficiary: Annotated[str | None, typer.Option(help="The beneficiary, an account of this registry.")] = None,
    beneficiary_name: Annotated[str | None, typer.Option(help="The beneficiary, by name.")] = None,
    year: Annotated[int | None, typer.Option(help="The calendar year claimed.")] = None,
    start: DateOption = None,
    end: DateOption = None,
) -> Builder:
    """Retire units for a beneficiary, a purpose, a period and a jurisdiction (signed by the holder).

    The beneficiary is --beneficiary ACCOUNT or --beneficiary-name NAME; the period is --year
    or --start and --end.
    """
    _exactly_one({"--beneficiary": beneficiary, "--beneficiary-name": beneficiary_name})
    return partial(
        commands.retire,
        holder=holder,
        serial=serial,
        purpose=purpose,
        jurisdiction=jurisdiction,
        beneficiary_account=beneficiary,
        beneficiary_name=beneficiary_name,
        year=year,
        period=_claim_period(year, start, end),
    )


@_verb("claim")
def claim(
    *,
    city: Annotated[str, typer.Option(help="The city that claims (signs); the retirement's beneficiary.")],
    retirement: Annotated[int, typer.Option(min=0, help="The log index of the retirement.")],
    serial: SerialOption,
    year: Annotated[int, typer.Option(help="The reporting year the units count for.")],
) -> Builder:
    """Claim retired units (all or part of a retirement) against the city's balance for a year."""
    return partial(commands.claim, city=city, retirement=retirement, serial=serial, year=year)


@_verb("cancel")
def cancel(
    *,
    operator: Operator = "operator",
    reason: Annotated[CancellationReason, typer.Option(help="Why the units are cancelled.")],
    note: Annotated[str, typer.Option(help="What happened, in words.")],
    serial: Annotated[str | None, typer.Option(help="The serial range cancelled.")] = None,
    project: Annotated[str | None, typer.Option(help="A reversal: the project that lost carbon.")] = None,
    quantity: Annotated[int | None, typer.Option(help="A reversal: the tonnes lost.")] = None,
    destination_registry: Annotated[str | None, typer.Option(help="An export: the receiving registry.")] = None,
    destination_account: Annotated[str | None, typer.Option(help="An export: the account there.")] = None,
) -> Builder:
    """Cancel units (signed by the operator).

    A reversal names --project and --quantity (drawn from the project's buffer pool first,
    then from --serial); other reasons name --serial only; an export also names its
    --destination-registry (and --destination-account).
    """
    return partial(
        commands.cancel,
        operator=operator,
        reason=reason.value,
        note=note,
        serial=serial,
        project=project,
        quantity=quantity,
        destination=_present(registry=destination_registry, account=destination_account) or None,
    )


# --- registration ----------------------------------------------------------------------------

_COMMON = inspect.signature(EventOptions, eval_str=True).parameters


def event_command(verb: Callable[..., Builder]) -> Callable[..., None]:
    """A typer command taking ``verb``'s options and :class:`EventOptions`, that submits the event."""

    def run(**values: Any) -> None:
        options = EventOptions(**{name: values.pop(name) for name in _COMMON})
        _submit(verb(**values), options)

    own = inspect.signature(verb, eval_str=True).parameters
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in (*own.values(), *_COMMON.values())]
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__doc__ = verb.__doc__
    return run


def register(app: typer.Typer) -> None:
    """Add the event verbs to ``app`` as top-level commands."""
    for name, verb in _VERBS:
        app.command(name)(event_command(verb))
