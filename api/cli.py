"""The ``registry`` command line."""

from __future__ import annotations

import gc
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api import cli_city, cli_events, cli_lineage
from api.console import console
from api.console import fail as _fail
from ledger.audit import AuditError, audit_log
from ledger.database import create_engine
from ledger.errors import LedgerError
from ledger.keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey
from ledger.receipt import verify_receipt
from ledger.store import LogStore
from registry import findings, replay
from registry.datadir import DEFAULT_ORIGIN, DataDir, DataDirError, write_secret
from registry.demo import build_demo
from registry.errors import RegistryError, ReplayError, StateMismatchError
from registry.node import initialise_registry, open_node

app = typer.Typer(help="A verifiable registry for carbon removal credits.", no_args_is_help=True)
cli_events.register(app)
cli_lineage.register(app)
cli_city.register(app)

DataDirOption = Annotated[Path, typer.Option("--data-dir", help="The registry's data directory.")]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="REGISTRY_DATABASE_URL", help="Use this database instead of DIR/registry.db."
    ),
]


@app.command()
def keygen(
    name: Annotated[str, typer.Option(help="Key name (for a log: its origin).")],
    out: Annotated[Path, typer.Option(help="Where to write the private key (mode 0600).")],
    cosigner: Annotated[bool, typer.Option(help="A witness cosigning key (tlog-cosignature/v1).")] = False,
) -> None:
    """Generate an Ed25519 key; write the private key to OUT and print the verifier key."""
    try:
        key = SignerKey.generate(name, ALG_COSIGNATURE_V1 if cosigner else ALG_ED25519)
        write_secret(out, key.text() + "\n")
    except FileExistsError:
        raise _fail(f"{out} already exists: refusing to overwrite a key") from None
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    print(key.verifier.text())


OriginOption = Annotated[str, typer.Option(help="The log's origin (checkpoint first line).")]


@app.command()
def init(
    data_dir: DataDirOption,
    origin: OriginOption = DEFAULT_ORIGIN,
    operator: Annotated[str, typer.Option(help="The operator's account id.")] = "operator",
    database_url: DatabaseOption = None,
) -> None:
    """Create an empty registry in DATA_DIR: the log key, the operator's key and account."""
    try:
        node, key = initialise_registry(data_dir, origin=origin, operator=operator, database_url=database_url)
    except (DataDirError, LedgerError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    node.close()
    console.print(f"registry {origin} in {data_dir}; operator key in {DataDir(data_dir).keys / (key.name + '.key')}")


@app.command()
def demo(data_dir: DataDirOption, origin: OriginOption = DEFAULT_ORIGIN, database_url: DatabaseOption = None) -> None:
    """Build a demo registry in DATA_DIR: suppliers, verifiers, five cities, buyers and their credits."""
    try:
        with _progress() as progress:
            task = progress.add_task("logging demo events", total=None)
            node = build_demo(
                data_dir,
                origin=origin,
                database_url=database_url,
                progress=lambda done: progress.update(task, completed=done),
            )
    except (DataDirError, LedgerError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    checkpoint = node.sequencer.published
    node.close()
    console.print(f"demo registry in {data_dir}: {checkpoint.size} events, origin {checkpoint.checkpoint.origin}")


@app.command()
def serve(
    data_dir: DataDirOption,
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    database_url: DatabaseOption = None,
) -> None:
    """Serve the registry in DATA_DIR over HTTP."""
    import uvicorn

    from api.app import create_app

    try:
        node = open_node(data_dir, database_url=database_url)
    except (DataDirError, LedgerError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    # What is loaded now lives as long as the process: keep it out of every future collection
    # (the write path allocates briskly, and full collections would rescan it each time).
    gc.freeze()
    console.print(f"serving {data_dir} at http://{host}:{port} (log {node.sequencer.origin})")
    uvicorn.run(create_app(node), host=host, port=port, log_level="warning")


@app.command()
def audit(
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
        log_key = _load_vkey(vkey) if vkey else VerifierKey.parse(directory.log_vkey.read_text())
    except (OSError, LedgerError) as exc:
        raise _fail(f"cannot read the log's verifier key: {exc}") from None
    pinned_file = checkpoint or directory.checkpoint
    pinned = pinned_file.read_text() if pinned_file.exists() else None
    if pinned is None:
        console.print(f"[yellow]warning:[/] no pinned checkpoint ({pinned_file}): a rollback cannot be detected")
    engine = create_engine(directory.database_url(database_url))
    store = LogStore(engine)

    try:
        with _progress() as progress:
            task = progress.add_task("auditing entries", total=None)
            report = audit_log(
                store,
                log_key,
                pinned_checkpoint=pinned,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
            task = progress.add_task("replaying events", total=report.entries)
            with tempfile.TemporaryDirectory() as scratch_dir:
                scratch = create_engine(f"sqlite:///{Path(scratch_dir) / 'replay.db'}")
                try:
                    replay.verify_state(
                        store,
                        log_key.name,
                        engine,
                        scratch,
                        progress=lambda done, total: progress.update(task, completed=done, total=total),
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
        raise _fail(f"audit could not read the log: {exc}") from None
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


@app.command("verify-receipt")
def verify_receipt_command(
    file: Annotated[Path, typer.Argument(help="A .tlog-proof receipt.")],
    vkey: Annotated[str, typer.Option(help="The log's verifier key (text or file).")],
) -> None:
    """Verify a receipt offline against the log's verifier key."""
    try:
        signed = verify_receipt(file.read_text(), _load_vkey(vkey))
    except (OSError, LedgerError) as exc:
        raise _fail(f"receipt does not verify: {exc}") from None
    console.print(f"[bold green]receipt verifies[/]: included in {signed.checkpoint.origin} at size {signed.size}")


def _load_vkey(value: str) -> VerifierKey:
    path = Path(value)
    return VerifierKey.parse(path.read_text() if path.exists() else value)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
