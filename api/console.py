"""Where the command line talks to a person: stderr, with rich markup."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from ledger.errors import LedgerError
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
