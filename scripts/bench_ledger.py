"""Ledger benchmark: durable verified appends, inclusion proofs and the full audit.

Each figure is printed beside the physical limit it is bounded by, measured in the same run
on one core: the Ed25519 verify rate for work that checks signatures, the SHA-256 node-hash
rate for tree-only work. Figures are medians over segments or rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from ledger import dsse
from ledger.audit import TrustedKeys, audit_log
from ledger.database import create_engine
from ledger.keys import SignerKey, VerifierKey
from ledger.pipeline import append_verified
from ledger.reader import LogReader
from ledger.sequencer import Sequencer
from ledger.store import LogStore
from registry.datadir import DataDir
from registry.statements import sign_statement

POSTGRES_URL = os.environ.get("REGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SEGMENT = 10_000


def ed25519_verifies_per_second(seconds: float = 1.0) -> float:
    key = SignerKey.generate("limit")
    message = b"x" * 400
    signature = key.sign(message)
    verifier = key.verifier
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            verifier.verify(signature, message)
        count += 500
    return count / (time.perf_counter() - start)


def sha256_nodes_per_second(seconds: float = 1.0) -> float:
    left, right = hashlib.sha256(b"l").digest(), hashlib.sha256(b"r").digest()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(5000):
            hashlib.sha256(b"\x01" + left + right).digest()
        count += 5000
    return count / (time.perf_counter() - start)


def signed_statements(signer: SignerKey, start: int, count: int) -> list[dsse.Envelope]:
    """Sign ``count`` realistic transfer statements on two threads (not timed)."""

    def sign(n: int) -> dsse.Envelope:
        statement = {
            "type": "transfer",
            "block": f"FI-BIOCHAR-2028-{n // 1000}-{n}",
            "from": "biochar-supplier-fi",
            "to": "city-turku",
            "quantity": 1 + n % 997,
            "id": f"bench-{n}",
        }
        return sign_statement(statement, [signer])

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(sign, range(start, start + count), chunksize=500))


def open_log(root: Path, url: str | None) -> Sequencer:
    """The log alone (no registry state): this benchmark measures the ledger."""
    directory = DataDir(root)
    return Sequencer(create_engine(directory.database_url(url)), directory.load_log_key(), directory.checkpoint)


def build(root: Path, url: str | None, size: int, checkpoints: set[int]) -> dict[int, float]:
    """Append ``size`` verified statements; return the median append rate up to each checkpoint size."""
    directory = DataDir(root)
    directory.initialise("bench.example/log")
    signer = SignerKey.generate("bench-signer")
    (root / "signer.vkey").write_text(signer.verifier.text())
    node = open_log(root, url)
    keys = {signer.verifier.dsse_key_id: signer.verifier}
    rates: list[float] = []
    medians: dict[int, float] = {}
    done = 0
    while done < size:
        count = min(SEGMENT, size - done)
        envelopes = signed_statements(signer, done, count)
        start = time.perf_counter()
        append_verified(node, envelopes, keys, batch_size=1000, workers=2)
        rates.append(count / (time.perf_counter() - start))
        done += count
        if done in checkpoints:
            medians[done] = statistics.median(rates)
    node.engine.dispose()
    return medians


def proofs_per_second(root: Path, url: str | None, rounds: int = 5, per_round: int = 2000) -> float:
    node = open_log(root, url)
    reader = LogReader(node.store)
    size = node.published.size
    rng = random.Random(7)
    rates = []
    for _ in range(rounds):
        indices = [rng.randrange(size) for _ in range(per_round)]
        start = time.perf_counter()
        for index in indices:
            reader.inclusion_proof(index, size)
        rates.append(per_round / (time.perf_counter() - start))
    node.engine.dispose()
    return statistics.median(rates)


def audit_child(root: Path, url: str | None) -> None:
    """The ledger audit of ``root``'s log, signatures checked against the bench signer (run as a child)."""
    directory = DataDir(root)
    signer = VerifierKey.parse((root / "signer.vkey").read_text())
    engine = create_engine(directory.database_url(url))
    audit_log(
        LogStore(engine),
        directory.load_log_key().verifier,
        pinned_checkpoint=directory.checkpoint.read_text(),
        verify_envelope=TrustedKeys({signer.dsse_key_id: signer}),
    )
    engine.dispose()


def audit(root: Path, url: str | None, runs: int) -> tuple[float, float]:
    """Audit the log in a child process; return (median entries/s, peak RSS in MiB).

    The log holds bench statements, not registry events, so this is the ledger's audit alone
    (``registry audit`` also replays registry events; scripts/bench_registry measures that).
    """
    node = open_log(root, url)
    size = node.published.size
    node.engine.dispose()
    command = [sys.executable, __file__, "--audit-child", str(root)]
    if url:
        command += ["--database-url", url]
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        rates.append(size / (time.perf_counter() - start))
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return statistics.median(rates), peak_kib / 1024


def postgres_schema() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema, f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a run under a minute")
    parser.add_argument("--audit-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.audit_child:
        audit_child(args.audit_child, args.database_url)
        return
    plan = (
        [("sqlite", [20_000]), ("postgresql", [10_000])]
        if args.quick
        else [
            ("sqlite", [100_000, 1_000_000]),
            ("postgresql", [100_000]),
        ]
    )
    verify_rate = ed25519_verifies_per_second()
    sha_rate = sha256_nodes_per_second()
    print(f"limits (one core): Ed25519 verify {verify_rate:,.0f}/s; SHA-256 node hash {sha_rate:,.0f}/s")
    print(f"{'database':<11} {'entries':>9}  {'figure':<38} {'value':>12}  {'limit':>12}  ratio")

    def row(db: str, size: int, figure: str, value: float, limit: float) -> None:
        print(f"{db:<11} {size:>9,}  {figure:<38} {value:>12,.0f}  {limit:>12,.0f}  {value / limit:.3g}")

    for db, sizes in plan:
        with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
            schema, url = postgres_schema() if db == "postgresql" else (None, None)
            try:
                rates = build(Path(tmp) / "log", url, max(sizes), set(sizes))
                for size in sizes:
                    row(db, size, "durable verified appends/s (2 cores)", rates[size], verify_rate)
                largest = max(sizes)
                row(db, largest, "inclusion proofs/s", proofs_per_second(Path(tmp) / "log", url), sha_rate)
                entries_per_second, peak = audit(Path(tmp) / "log", url, runs=1 if largest >= 1_000_000 else 3)
                row(db, largest, "audit entries/s (with signatures)", entries_per_second, verify_rate)
                print(f"{db:<11} {largest:>9,}  {'audit peak memory (MiB)':<38} {peak:>12,.0f}")
            finally:
                if schema:
                    drop_schema(schema)


if __name__ == "__main__":
    main()
