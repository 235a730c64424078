"""The ``registry`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api import cli_audit, cli_city, cli_events, cli_lineage, cli_witness
from api.console import console
from api.console import fail as _fail
from api.console import load_vkey as _load_vkey
from api.console import progress as _progress
from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError
from ledger.keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey
from ledger.note import parse as parse_note
from ledger.receipt import Receipt, verify_receipt
from ledger.trust_policy import Policy
from registry import heap
from registry.datadir import DEFAULT_ORIGIN, DataDir, DataDirError, write_secret
from registry.demo import build_demo
from registry.errors import RegistryError
from registry.node import initialise_registry, open_node

app = typer.Typer(help="A verifiable registry for carbon removal credits.", no_args_is_help=True)
cli_events.register(app)
cli_lineage.register(app)
cli_city.register(app)
cli_audit.register(app)
cli_witness.register(app)

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
    workers: Annotated[
        int, typer.Option(min=1, help="HTTP server processes (one writer process serves them all).")
    ] = 1,
) -> None:
    """Serve the registry in DATA_DIR over HTTP.

    One writer process (registry.writer) verifies, applies and commits every event; the HTTP
    workers parse requests, serve reads and hand events to it.
    """
    import os
    from contextlib import ExitStack

    import uvicorn

    from api import serve_factory
    from api.app import create_app
    from registry import writer

    with ExitStack() as stack:
        try:
            node = open_node(data_dir, database_url=database_url)
            socket_path = stack.enter_context(writer.running(data_dir.resolve(), database_url))
        except (DataDirError, LedgerError, RegistryError) as exc:
            raise _fail(str(exc)) from None
        if workers > 1:  # each worker process opens the registry to read it (api.serve_factory)
            node.close()
            os.environ[serve_factory.DATA_DIR_VARIABLE] = str(data_dir.resolve())
            os.environ[serve_factory.WRITER_VARIABLE] = socket_path
            if database_url:
                os.environ[serve_factory.DATABASE_URL_VARIABLE] = database_url
            console.print(f"serving {data_dir} at http://{host}:{port} with {workers} workers")
            serve_factory.serve_workers(host, port, workers)
            return
        heap.settle()  # what is loaded now lives as long as the process
        console.print(f"serving {data_dir} at http://{host}:{port} (log {node.sequencer.origin})")
        app = create_app(node, writer=writer.WriterClient(socket_path))
        uvicorn.run(app, host=host, port=port, log_level="warning")


@app.command("verify-receipt")
def verify_receipt_command(
    file: Annotated[Path, typer.Argument(help="A .tlog-proof receipt.")],
    vkey: Annotated[str | None, typer.Option(help="The log's verifier key (text or file).")] = None,
    policy: Annotated[
        Path | None, typer.Option(help="A trust policy: the log's key and the witness quorum its checkpoint needs.")
    ] = None,
) -> None:
    """Verify a receipt offline against the log's verifier key, or a trust policy's log and witness quorum."""
    try:
        text = file.read_text()
        trust = Policy.parse(policy.read_text()) if policy is not None else None
        if vkey is not None:
            log_key = _load_vkey(vkey)
        elif trust is not None:
            log_key = trust.log_key(Checkpoint.parse(parse_note(Receipt.parse(text).checkpoint).text).origin)
        else:
            raise _fail("give the log's key (--vkey) or a trust policy (--policy)")
        signed = verify_receipt(text, log_key, policy=trust)
    except (OSError, ValueError, LedgerError) as exc:  # ValueError: a file that is not UTF-8
        raise _fail(f"receipt does not verify: {exc}") from None
    witnessed = f", co-signed by {len(signed.cosigners)} witness(es)" if signed.cosigners else ""
    console.print(
        f"[bold green]receipt verifies[/]: included in {signed.checkpoint.origin} at size {signed.size}{witnessed}"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
