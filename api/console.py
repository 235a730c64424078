"""Where the command line talks to a person: stderr, with rich markup."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ledger.errors import LedgerError
from ledger.keys import VerifierKey
from registry.datadir import DataDirError
from registry.errors import RegistryError
from registry.node import Node, open_node

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@contextmanager
def opened_node(data_dir: Path, database_url: str | None) -> Iterator[Node]:
    """The registry in ``data_dir``, closed afterwards; a directory or database that will not open
    ends the command with its error."""
    try:
        node = open_node(data_dir, database_url=database_url)
    except (DataDirError, LedgerError, RegistryError) as exc:
        raise fail(str(exc)) from None
    try:
        yield node
    finally:
        node.close()


def load_vkey(value: str) -> VerifierKey:
    """A verifier key given as its text or as the path of a file holding it; raises ``OSError`` or
    ``LedgerError``."""
    path = Path(value)
    return VerifierKey.parse(path.read_text() if path.exists() else value)


def progress() -> Progress:
    """A progress bar on stderr that shows only when a person is watching (a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )
