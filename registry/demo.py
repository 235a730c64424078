"""The demo registry: a data directory filled with realistic signed statements.

Until the registry domain exists, the demo logs signed sample statements in the shapes the
domain will use (a project, issuances, transfers, a retirement), by three sample parties.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ledger.keys import SignerKey
from registry.datadir import DEFAULT_ORIGIN, DataDir
from registry.node import Node, open_node
from registry.statements import sign_statement

PARTIES = ("operator", "biochar-supplier-fi", "verifier-fi", "city-turku")


def build_demo(
    root: Path,
    *,
    entries: int = 300,
    batch_size: int = 25,
    origin: str = DEFAULT_ORIGIN,
    database_url: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Node:
    """Create a data directory at ``root`` and log ``entries`` signed sample statements.

    Returns the open node; raises :class:`registry.datadir.DataDirError` if ``root``
    already holds a registry.
    """
    data_dir = DataDir(root)
    data_dir.initialise(origin)
    keys = {name: SignerKey.generate(name) for name in PARTIES}
    for key in keys.values():
        data_dir.save_key(key)
        data_dir.trust_signer(key.verifier)
    node = open_node(root, database_url=database_url)
    done = 0
    while done < entries:
        count = min(batch_size, entries - done)
        envelopes = []
        for n in range(done, done + count):
            statement, signer_names = _sample_statement(n)
            envelopes.append(sign_statement(statement, [keys[s] for s in signer_names]))
        node.sequencer.append(envelopes)
        done += count
        if progress is not None:
            progress(done)
    return node


def _sample_statement(n: int) -> tuple[dict[str, object], tuple[str, ...]]:
    """The n-th sample statement and who signs it: a project, then a cycle of credit events."""
    if n == 0:
        return {
            "type": "project",
            "id": "fi-biochar-1",
            "name": "Biochar from forest residues, Varsinais-Suomi",
            "method": "biochar",
            "country": "FI",
        }, ("operator",)
    kind = ("issuance", "transfer", "retirement")[n % 3]
    if kind == "issuance":
        return {
            "type": "issuance",
            "project": "fi-biochar-1",
            "batch": n,
            "quantity": 100 + n % 17,
            "vintage": 2028,
        }, ("biochar-supplier-fi", "verifier-fi")
    if kind == "transfer":
        return {"type": "transfer", "batch": n - 1, "to": "city-turku", "quantity": 50}, ("biochar-supplier-fi",)
    return {
        "type": "retirement",
        "batch": n - 2,
        "quantity": 50,
        "beneficiary": "city-turku",
        "claim_year": 2029,
    }, ("city-turku",)
