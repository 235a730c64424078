"""API load benchmark: the real server over loopback, driven by wrk in another process.

A demo registry is built in a temporary directory (SQLite, or a fresh schema of the
PostgreSQL database given with ``--database-url``), with 512 extra holder accounts that each
hold a block of one more batch of the demo's biochar project. ``registry serve`` then runs in its own process, with one
worker and then two, and wrk (``scripts/bench_api.lua``) drives it: ``POST /v1/events`` with
transfer events signed beforehand (each one unit off its holder's block, round-robin over the
holders so that no holder's key sends more than a few events a second, and each wrk thread
sending its own slice once), then reads of holdings, a full hash tile and an entry bundle.
Every figure is the median over rounds, printed beside ``GET /v1/health`` (a trivial endpoint
of the same app) measured in the same round, as a ratio. Only 201 answers count as accepted;
any other answer is printed with its problem ``type``. The server and wrk share this machine's
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bench_ledger

from ledger.keys import SignerKey
from registry import commands, queries
from registry.datadir import DataDir
from registry.demo import ACCOUNTS, OPERATOR, build_demo
from registry.state import Applied

SCRIPTS = Path(__file__).resolve().parent
LUA = SCRIPTS / "bench_api.lua"
HOLDERS = 512
UNITS_PER_HOLDER = 1_000_000
RATE_VARIABLES = ("REGISTRY_WRITE_RATE", "REGISTRY_WRITE_BURST")


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    rate: float  # answers counted (201 for events, 2xx for reads) per second
    p50_ms: float
    p99_ms: float
    other: dict[str, int]  # answers not counted, by "status type"
    exhausted: bool  # a thread ran out of events before the end: the rate is a lower bound


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian when missing and this is root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `sudo apt-get install -y wrk` and try again")
    print("installing wrk: apt-get install -y wrk", file=sys.stderr)
    if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False).returncode:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


class Holders:
    """The bench's holder accounts, their keys, and the next unit each still holds."""

    SUPPLIER, VERIFIER, PROJECT = "biochar-fi", "verifier-nordic", "fi-biochar-1"  # the demo's

    def __init__(self, root: Path, url: str | None) -> None:
        node = build_demo(root, database_url=url)
        self.origin = node.origin
        operator, supplier, verifier = (
            SignerKey.parse((DataDir(root).keys / f"{name}.key").read_text())
            for name in (OPERATOR, self.SUPPLIER, self.VERIFIER)
        )
        self.names = [f"bench-holder-{n:04d}" for n in range(HOLDERS)]
        self.keys = {name: SignerKey.generate(name) for name in self.names}
        opening = [
            commands.open_account(
                self.origin, operator=OPERATOR, account=name, role="buyer", name=name, keys=[commands.public_key(key)]
            )
            for name, key in self.keys.items()
        ]
        issuance = commands.issue(
            self.origin,
            project=self.PROJECT,
            supplier=self.SUPPLIER,
            verifier=self.VERIFIER,
            monitoring_period=("2031-01-01", "2031-12-31"),
            vintage=2031,
            quantity=HOLDERS * UNITS_PER_HOLDER,
            report_sha256="00" * 32,
        )
        setup = [*(commands.sign(c, [operator]) for c in opening), commands.sign(issuance, [supplier, verifier])]
        outcomes = node.registry.submit_many(setup)
        assert all(isinstance(o, Applied) for o in outcomes), outcomes
        with node.engine.connect() as conn:
            batch = queries.batch_issued_at(conn, outcomes[-1].index)  # type: ignore[union-attr]
        self.blocks = [
            batch.sub(batch.first + n * UNITS_PER_HOLDER, batch.first + (n + 1) * UNITS_PER_HOLDER - 1)
            for n in range(HOLDERS)
        ]
        seeding = [
            commands.sign(commands.transfer(self.origin, self.SUPPLIER, name, str(block)), [supplier])
            for name, block in zip(self.names, self.blocks, strict=True)
        ]
        assert all(isinstance(o, Applied) for o in node.registry.submit_many(seeding))
        self.next_unit = [block.first for block in self.blocks]
        self.made = 0
        node.close()

    def transfers(self, count: int) -> list[str]:
        """``count`` new transfer envelopes as JSON lines: one unit each, holders taken in turn."""
        made = []
        for n in range(self.made, self.made + count):
            sender = n % HOLDERS
            to = (sender + 1 + (n // HOLDERS) % (HOLDERS - 1)) % HOLDERS  # never the sender
            unit = self.next_unit[sender]
            self.next_unit[sender] += 1
            serial = self.blocks[sender].sub(unit, unit)
            made.append((commands.transfer(self.origin, self.names[sender], self.names[to], str(serial)), sender))
        self.made += count

        def sign(item: tuple[commands.Command, int]) -> str:
            envelope = commands.sign(item[0], [self.keys[self.names[item[1]]]])
            return json.dumps(envelope.to_json(), separators=(",", ":"))

        with ThreadPoolExecutor(2) as pool:  # Ed25519 signing releases the GIL
            return list(pool.map(sign, made, chunksize=500))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(site: Site, workers: int) -> Iterator[str]:
    """``registry serve`` with ``workers`` processes on a free loopback port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(site.root), "--port", str(port)]
    command += ["--workers", str(workers), *(["--database-url", site.url] if site.url else [])]
    with site.log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start:\n{site.log.read_text()}") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


@dataclass(frozen=True)
class Wrk:
    """How wrk is run: the same threads and connections for every figure."""

    binary: str
    threads: int
    connections: int
    seconds: float
    files: Path

    def run(self, base: str, mode: str, lines_per_thread: list[list[str]]) -> Load:
        pattern = str(self.files / f"{mode}-%d.txt")
        for n, lines in enumerate(lines_per_thread):
            Path(pattern % n).write_text("\n".join(lines) + "\n")
        command = [self.binary, "-t", str(self.threads), "-c", str(self.connections), "-d", f"{self.seconds:g}s"]
        command += ["--timeout", "10s", "-s", str(LUA), base, "--", mode, pattern]
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
        line = next((x for x in finished.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise SystemExit(f"wrk printed no figures:\n{finished.stdout}\n{finished.stderr}")
        found = json.loads(line.removeprefix("BENCH "))
        good = {"post": ("201",), "get": ("200",)}[mode]
        statuses: dict[str, int] = found["statuses"]
        other = {k: v for k, v in statuses.items() if k not in good}
        if found["socket_errors"]:
            other["socket errors"] = found["socket_errors"]
        counted = sum(v for k, v in statuses.items() if k in good)
        return Load(
            counted / (found["duration_us"] / 1e6),
            found["p50_us"] / 1000,
            found["p99_us"] / 1000,
            other,
            bool(found["exhausted_threads"]),
        )

    def get(self, base: str, paths: list[str]) -> Load:
        # Each thread starts elsewhere in the list, so they do not read in step.
        step = max(1, len(paths) // self.threads)
        return self.run(base, "get", [paths[n * step :] + paths[: n * step] for n in range(self.threads)])

    def post(self, base: str, bodies: list[str]) -> Load:
        return self.run(base, "post", [bodies[n :: self.threads] for n in range(self.threads)])


FIGURES = ("POST /v1/events (accepted)", "GET holdings", "GET /log/tile/0/000", "GET /log/tile/entries/000")


@dataclass(frozen=True)
class Site:
    """Where the registry under test lives: its data directory, its database, the server's log."""

    root: Path
    url: str | None
    log: Path


def measure(wrk: Wrk, holders: Holders, site: Site, workers: int, rounds: int) -> dict[str, list[tuple[Load, Load]]]:
    """Each figure in each round, beside the health endpoint measured just before it."""
    results: dict[str, list[tuple[Load, Load]]] = {name: [] for name in FIGURES}
    holdings = [f"/v1/accounts/{name}/holdings" for name in [*ACCOUNTS, *holders.names[:64]]]
    reads = {
        "GET holdings": holdings,
        "GET /log/tile/0/000": ["/log/tile/0/000"],
        "GET /log/tile/entries/000": ["/log/tile/entries/000"],
    }
    expected = 2_000.0  # events/s to sign for; raised to twice the best rate seen
    with server(site, workers) as base:
        for n in range(rounds):
            bodies = holders.transfers(int(expected * wrk.seconds))
            health = wrk.get(base, ["/v1/health"])
            posted = wrk.post(base, bodies)
            expected = max(expected, 2 * posted.rate)
            results[FIGURES[0]].append((posted, health))
            for name, paths in reads.items():
                results[name].append((wrk.get(base, paths), wrk.get(base, ["/v1/health"])))
            for name, pairs in results.items():
                load, h = pairs[-1]
                note = f" not counted: {load.other | h.other}" if load.other or h.other else ""
                print(
                    f"  {workers} worker(s), round {n + 1}: {name} {load.rate:,.0f}/s, health {h.rate:,.0f}/s{note}",
                    file=sys.stderr,
                )
    return results


def report(workers: int, results: dict[str, list[tuple[Load, Load]]]) -> list[str]:
    """Print one row per figure (medians over rounds); return what misses its target."""
    missed = []
    for name, pairs in results.items():
        rate = statistics.median(load.rate for load, _ in pairs)
        p50 = statistics.median(load.p50_ms for load, _ in pairs)
        p99 = statistics.median(load.p99_ms for load, _ in pairs)
        health = statistics.median(h.rate for _, h in pairs)
        ratio = statistics.median(load.rate / h.rate if h.rate else 0.0 for load, h in pairs)
        print(f"{workers:>7}  {name:<28} {rate:>8,.0f}/s {p50:>8.1f} {p99:>8.1f}   {health:>8,.0f}/s {ratio:>6.2f}")
        other: dict[str, int] = {}
        for load, h in pairs:
            for key, count in [*load.other.items(), *h.other.items()]:
                other[key] = other.get(key, 0) + count
        for key, count in sorted(other.items()):
            print(f"{'':>9}not counted: {count:,} answers {key}")
        if any(load.exhausted for load, _ in pairs):
            print(f"{'':>9}a wrk thread ran out of events: the rate is a lower bound")
        if name.startswith("POST") and not (rate >= 1_000 and p99 <= 100):
            missed.append(f"{workers} worker(s): {name} {rate:,.0f}/s, p99 {p99:.1f} ms (target ≥ 1,000/s, ≤ 100 ms)")
        if name.startswith("GET") and ratio < 0.5:
            missed.append(f"{workers} worker(s): {name} at {ratio:.2f} of health (target ≥ 0.5)")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 s segments instead of 3 of 10 s")
    parser.add_argument("--database-url", help="a PostgreSQL database (a fresh schema is made in it and dropped)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of segments (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--workers", default="1,2", help="server worker counts to measure (default 1,2)")
    args = parser.parse_args()
    wrk_binary = ensure_wrk()
    if args.database_url:
        bench_ledger.POSTGRES_URL = args.database_url  # where postgres_schema makes its schema
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        schema, url = bench_ledger.postgres_schema() if args.database_url else (None, None)
        try:
            site = Site(Path(tmp) / "registry", url, Path(tmp) / "server.log")
            began = time.perf_counter()
            holders = Holders(site.root, url)
            wrk = Wrk(wrk_binary, 2, args.connections, 2.0 if args.quick else 10.0, Path(tmp))
            limits = ", ".join(f"{name}={os.environ.get(name, '(default)')}" for name in RATE_VARIABLES)
            print(
                f"{'PostgreSQL' if url else 'SQLite'}: demo registry and {HOLDERS} bench holders built in "
                f"{time.perf_counter() - began:.1f} s; {HOLDERS} keys send events in turn; write limiter {limits}\n"
                f"{os.cpu_count()} cores shared by the server and wrk (-t{wrk.threads} -c{wrk.connections}); "
                f"{wrk.seconds:g} s segments, medians of {args.rounds} rounds"
            )
            print(
                f"{'workers':>7}  {'figure':<28} {'rate':>10} {'p50 ms':>8} {'p99 ms':>8}   {'health':>10} {'ratio':>6}"
            )
            missed = []
            for workers in (int(w) for w in args.workers.split(",")):
                missed += report(workers, measure(wrk, holders, site, workers, args.rounds))
            print("targets met" if not missed else "targets missed:\n  " + "\n  ".join(missed))
            print("load average (1, 5, 15 min) at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
        finally:
            if schema:
                bench_ledger.drop_schema(schema)


if __name__ == "__main__":
    main()
