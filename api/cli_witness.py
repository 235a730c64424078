"""``registry witness``: run a C2SP tlog-witness for the logs it is told to trust.

The witness keeps everything in its own directory: ``witness.key`` (a tlog-cosignature/v1
key, created on the first run from ``--name``), ``logs`` (the verifier keys of the logs it
co-signs, one per line; each ``--log`` is added) and ``witness.db`` (the latest checkpoint
co-signed per log, and the evidence of every fork it refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.console import console, fail, load_vkey
from ledger.database import create_engine
from ledger.errors import LedgerError
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey, VerifierKey
from ledger.witness import Witness
from registry.datadir import write_secret


def witness_command(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="The witness's directory (key, logs, database).")],
    *,
    name: Annotated[
        str | None, typer.Option(help="The witness key's name, such as witness.example/w1 (first run only).")
    ] = None,
    log: Annotated[
        list[str] | None, typer.Option("--log", help="A log's verifier key (text or file) to trust; repeatable.")
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port.")] = 8100,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Keep the witness's state here instead of DIR/witness.db.")
    ] = None,
) -> None:
    """Run a witness: co-sign each checkpoint of a trusted log that is consistent with the last one it co-signed."""
    import uvicorn

    from api.witness_app import create_witness_app

    try:
        key = _witness_key(data_dir, name)
        logs = _trusted_logs(data_dir, [load_vkey(v) for v in log or []])
    except (OSError, ValueError, LedgerError) as exc:  # ValueError: a file that is not UTF-8
        raise fail(str(exc)) from None
    if not logs:
        raise fail(f"the witness trusts no log yet: pass --log VKEY (kept in {data_dir / 'logs'})")
    try:
        witness = Witness(create_engine(database_url or f"sqlite:///{data_dir / 'witness.db'}"), key, logs)
    except LedgerError as exc:
        raise fail(str(exc)) from None
    print(key.verifier.text(), flush=True)
    console.print(f"witness {key.name} at http://{host}:{port} for {', '.join(sorted(witness.logs))}")
    uvicorn.run(create_witness_app(witness), host=host, port=port, log_level="warning")


def _witness_key(data_dir: Path, name: str | None) -> SignerKey:
    path = data_dir / "witness.key"
    if path.exists():
        key = SignerKey.parse(path.read_text())
        if name is not None and name != key.name:
            raise LedgerError(f"{path} holds the key of {key.name!r}, not {name!r}")
        return key
    if name is None:
        raise LedgerError(f"{path} does not exist: pass --name to create the witness's key")
    data_dir.mkdir(parents=True, exist_ok=True)
    key = SignerKey.generate(name, ALG_COSIGNATURE_V1)
    write_secret(path, key.text() + "\n")
    return key


def _trusted_logs(data_dir: Path, added: list[VerifierKey]) -> list[VerifierKey]:
    path = data_dir / "logs"
    known = [VerifierKey.parse(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    new = [key for key in added if key not in known]
    if new:
        data_dir.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.writelines(key.text() + "\n" for key in new)
    return known + new


def register(app: typer.Typer) -> None:
    """Add ``witness`` to the CLI."""
    app.command("witness")(witness_command)
