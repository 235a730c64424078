"""The CLI's city verbs: ``registry statement``, ``registry verify-statement``, and the events
``registry inventory`` and ``registry policy``.

``statement`` prints a city's net-emissions statement as JSON, CSV, or the bundle signed by the
log; ``verify-statement`` checks such a bundle offline with the log's verifier key alone
(:mod:`registry.attestation`). The two event verbs sign and submit like every verb of
:mod:`api.cli_events` (``--key``, ``--url`` or ``--data-dir``, ``--id``, ``--receipt``, ``--dry-run``).
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from api import cli_events
from api.cli_events import Builder, Operator
from api.cli_lineage import DatabaseOption, DataDirOption
from api.console import console, fail, opened_node
from ledger.errors import LedgerError
from ledger.keys import VerifierKey
from registry import attestation, balance, commands
from registry.datadir import DataDir
from registry.errors import RegistryError, StatementError
from registry.statement_csv import to_csv

FORMATS = ("json", "csv", "signed")
LINE_KINDS = ("emissions", "removals")


def statement_command(
    city: Annotated[str, typer.Argument(help="The city's account id.")],
    *,
    year: Annotated[int, typer.Option(min=1900, max=2200, help="The reporting year.")],
    output: Annotated[str, typer.Option("--format", help="json, csv, or signed (the bundle to verify).")] = "json",
    data_dir: DataDirOption,
    database_url: DatabaseOption = None,
) -> None:
    """Print a city's net-emissions statement for a year: each term with the log entries it came from.

    --format signed prints the statement signed by the log with every entry it cites and its
    inclusion proof: anyone can check it with 'registry verify-statement'.
    """
    if output not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {output!r}")
    with opened_node(data_dir, database_url) as node:
        try:
            with attestation.consistent_read(node.engine) as conn:
                result = balance.statement(conn, city, year)
            if output == "signed":
                result = attestation.sign_statement(
                    result, log_key=node.sequencer.log_key, published=node.latest_checkpoint(), reader=node.reader
                )
        except (RegistryError, LedgerError) as exc:
            raise fail(str(exc)) from None
    if output == "csv":
        sys.stdout.write(to_csv(result))
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))


def verify_statement_command(
    file: Annotated[Path, typer.Argument(help="A signed statement, as 'registry statement --format signed' prints.")],
    *,
    vkey: Annotated[str | None, typer.Option(help="The log's verifier key (text or file).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Without --vkey: read the key from DIR/log.vkey.")
    ] = None,
) -> None:
    """Verify a signed statement offline: the log's signatures, each entry's inclusion proof, and
    every figure recomputed from the entries. Exits 1 naming what failed.

    An auditor should pass a --vkey obtained independently: a data directory is only as
    trustworthy as whoever controls it.
    """
    key = _log_vkey(vkey, data_dir)
    try:
        bundle = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    try:
        verified = attestation.verify_statement(bundle, key)
    except StatementError as exc:
        console.print(f"[bold red]statement does not verify[/]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    for step in verified.steps:
        console.print(f"[green]ok[/] {escape(step)}")
    console.print(
        f"[bold green]statement verified[/]: {escape(verified.city)} {verified.year}, "
        f"net {verified.statement['net']} t, in {escape(verified.checkpoint.checkpoint.origin)} at size {verified.size}"
    )


def _log_vkey(vkey: str | None, data_dir: Path | None) -> VerifierKey:
    """The key given as --vkey (text or a file holding it), or read from DIR/log.vkey."""
    if (vkey is None) == (data_dir is None):
        raise fail("give exactly one of --vkey or --data-dir")
    try:
        if vkey is not None:
            path = Path(vkey)
            return VerifierKey.parse(path.read_text() if path.exists() else vkey)
        assert data_dir is not None
        return VerifierKey.parse(DataDir(data_dir).log_vkey.read_text())
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot read the log's verifier key: {exc}") from None


# --- event verbs ---------------------------------------------------------------------------------


def inventory(
    *,
    city: Annotated[str, typer.Argument(help="The city whose inventory it is (signs).")],
    year: Annotated[int, typer.Option(help="The reporting year.")],
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            metavar="LINES.json",
            help='A JSON file {"emissions": [...], "removals": [...]}, lines as registry.commands.inventory takes.',
        ),
    ],
    base_year: Annotated[bool, typer.Option(help="This is the city's base-year inventory.")] = False,
    gwp: Annotated[str, typer.Option(help="IPCC report of the warming potentials: SAR, AR4, AR5 or AR6.")] = "AR5",
    period: Annotated[
        tuple[str, str] | None,
        typer.Option(metavar="START END", help="A reporting period other than the calendar year, YYYY-MM-DD twice."),
    ] = None,
    revises: Annotated[int | None, typer.Option(min=0, help="The log index of the inventory this replaces.")] = None,
) -> Builder:
    """Submit a city's emissions by GPC sector and scope, and its in-boundary removals, for a year."""
    lines = _lines(file)
    return partial(
        commands.inventory,
        city=city,
        year=year,
        emissions=lines.get("emissions", []),
        removals=lines.get("removals", []),
        base_year=base_year,
        gwp=gwp,
        period=period,
        revises=revises,
    )


def _lines(file: Path) -> dict[str, Any]:
    """The emission and removal lines of an inventory file (the event model checks each line)."""
    try:
        lines = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    if not isinstance(lines, dict) or "emissions" not in lines or set(lines) - set(LINE_KINDS):
        raise fail(f'{file} must hold an object {{"emissions": [...], "removals": [...]}}')
    return lines


def policy(
    *,
    operator: Operator = "operator",
    retirement_window_days: Annotated[
        str,
        typer.Option(
            metavar="N|none",
            help="Refuse claims on retirements logged more than N days after the reporting period; none: no limit.",
        ),
    ],
) -> Builder:
    """Set the registry's claim rules from this log entry on (signed by the operator)."""
    days: int | None = None
    if retirement_window_days.lower() != "none":
        try:
            days = int(retirement_window_days)
        except ValueError:
            raise fail(
                f"--retirement-window-days must be a number of days or none, not {retirement_window_days!r}"
            ) from None
    return partial(commands.policy, operator=operator, retirement_window_days=days)


def register(app: typer.Typer) -> None:
    """Add the city verbs to ``app``."""
    app.command("statement")(statement_command)
    app.command("verify-statement")(verify_statement_command)
    # Signed and submitted like every event verb of api.cli_events.
    app.command("inventory")(cli_events.event_command(inventory))
    app.command("policy")(cli_events.event_command(policy))
