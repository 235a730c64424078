"""The CLI's ``registry audit``: the offline audit of a registry's log and state."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.cli_lineage import DatabaseOption, DataDirOption
from api.console import console, fail, load_vkey, progress
from ledger.audit import AuditError, audit_log
from ledger.database import create_engine
from ledger.errors import LedgerError
from ledger.keys import VerifierKey
from ledger.store import LogStore
from registry import findings, replay
from registry.datadir import DataDir
from registry.errors import ReplayError, StateMismatchError


def audit_command(
    data_dir: DataDirOption,
    vkey: Annotated[
        str | None, typer.Option(help="The log's verifier key (text or file); default DIR/log.vkey.")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint you obtained yourself, to detect a rollback; default DIR/checkpoint."),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Audit the registry offline: rebuild every tile and the root, then replay every event.

    The replay checks each signature against the keys bound at its log index and every rule,
    and rebuilds the registry's state, which must equal the state the registry serves.

    An auditor should pass --vkey and --checkpoint obtained independently: files inside the
    data directory are only as trustworthy as whoever controls it.
    """
    directory = DataDir(data_dir)
    try:
        log_key = load_vkey(vkey) if vkey else VerifierKey.parse(directory.log_vkey.read_text())
    except (OSError, LedgerError) as exc:
        raise fail(f"cannot read the log's verifier key: {exc}") from None
    pinned_file = checkpoint or directory.checkpoint
    pinned = pinned_file.read_text() if pinned_file.exists() else None
    if pinned is None:
        console.print(f"[yellow]warning:[/] no pinned checkpoint ({pinned_file}): a rollback cannot be detected")
    engine = create_engine(directory.database_url(database_url))
    store = LogStore(engine)

    try:
        with progress() as bar:
            task = bar.add_task("auditing entries", total=None)
            report = audit_log(
                store,
                log_key,
                pinned_checkpoint=pinned,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            task = bar.add_task("replaying events", total=report.entries)
            with tempfile.TemporaryDirectory() as scratch_dir:
                scratch = create_engine(f"sqlite:///{Path(scratch_dir) / 'replay.db'}")
                try:
                    replay.verify_state(
                        store,
                        log_key.name,
                        engine,
                        scratch,
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )
                    with scratch.connect() as conn:
                        found = findings.load(conn)  # re-derived by the replay, equal to the served ones
                finally:
                    scratch.dispose()
    except AuditError as exc:
        console.print(f"[bold red]audit failed[/] at {exc.where}: {exc.reason}")
        raise typer.Exit(1) from None
    except ReplayError as exc:
        console.print(f"[bold red]audit failed[/] at entry {exc.index}: {exc.reason}")
        raise typer.Exit(1) from None
    except StateMismatchError as exc:
        console.print(f"[bold red]audit failed[/]: the registry's state differs from its log: {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:  # a store that cannot even be read is an audit failure too
        raise fail(f"audit could not read the log: {exc}") from None
    finally:
        engine.dispose()
    void = [f for f in found if f.kind.voids]
    for finding in found:
        console.print(
            f"{'[bold red]void entry[/]' if finding.kind.voids else 'finding'} {finding.idx}.{finding.seq} "
            f"({finding.severity.value}, {finding.kind.value}): {escape(finding.message)} "
            f"(evidence: entries {', '.join(map(str, finding.evidence))})"
        )
    if void:
        # The registry never appends an entry its rules refuse: one in the log was written around it.
        entries = "1 entry" if len(void) == 1 else f"{len(void)} entries"
        console.print(f"[bold red]audit failed[/]: the log holds {entries} that the registry's rules refuse")
        raise typer.Exit(1)
    console.print(
        f"[bold green]audit passed[/]: {report.entries} entries, {report.tiles} tiles, "
        f"{report.checkpoints} checkpoints, every event replayed to the served state, "
        f"{len(found)} double-counting finding(s) re-derived; root {report.root.hex()}"
    )


def register(app: typer.Typer) -> None:
    """Add ``registry audit`` to ``app``."""
    app.command("audit")(audit_command)
