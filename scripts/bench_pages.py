"""Web page benchmark: every page of the registry's site on a registry of 1M blocks, beside GET /v1/health.

A registry is filled as scripts/bench_graph fills it, with its own code: the bench's parties and
one large issuance (bench_registry.open_registry), the demo's parties, credits and five cities with
their statements on top (registry.demo.build_demo), then seeding transfers until the registry holds
the target number of serial blocks (bench_graph.seed), and a sample of blocks retired, a quarter
after travelling along 3-5 holders (bench_graph.retire_sample). On SQLite, or on a fresh schema of
the PostgreSQL database given with ``--database-url``.

Then each page is requested through the application in this process (Starlette's TestClient: the
whole ASGI stack, routing, dependencies, templates, no socket), round-robin with ``GET /v1/health``
so that both see the same machine: p50 and p99 (nearest rank) over ``--requests`` requests each,
and the ratio of a page's p50 to health's p50. A page whose route is not mounted yet is listed, not
timed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import bench_ledger
from bench_graph import Plan, analyse, block_units, p, retire_sample, seed
from bench_registry import ORIGIN, open_registry
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from ledger.keys import SignerKey
from registry import demo, heap, queries, serials
from registry.node import Node
from registry.serials import SerialRange

FULL = Plan(blocks=1_000_000, retirements=400, blocked=0, traces=0, point_queries=0)
QUICK = Plan(blocks=50_000, retirements=100, blocked=0, traces=0, point_queries=0)
HEALTH = "/v1/health"


@dataclass(frozen=True)
class Page:
    name: str
    url: str


def fill(root: Path, url: str | None, plan: Plan, db: str) -> tuple[Node, SerialRange, int, list[int]]:
    """The bench registry with the demo on top, seeded to ``plan.blocks``; (node, batch, seeded, travelled)."""
    node, keys, batch = open_registry(root, url)
    operator = SignerKey.parse((root / "keys" / "operator.key").read_text())
    # build_demo makes its own registry; here it adds the demo's parties and events to this one.
    with mock.patch.object(demo, "initialise_registry", lambda *_, **__: (node, operator)):
        demo.build_demo(root, origin=ORIGIN)
    seeded = seed(node, keys, batch, plan.blocks, db)
    _, travelled = retire_sample(node, keys, batch, seeded, plan, rng=random.Random(7))
    print(" " * 40, file=sys.stderr, end="\r")
    if db == "postgresql":
        analyse(node.engine)
    return node, batch, seeded, travelled


def pages(node: Node, batch: SerialRange, seeded: int, travelled: list[int]) -> list[Page]:
    deep = block_units(batch, seeded - 100).first  # the page of blocks near the batch's end
    unit = block_units(batch, travelled[0])
    with node.engine.connect() as conn:  # the first unit Turku retired
        turku = serials.parse(
            queries.retirement_list(conn, beneficiary="turku", holder=None, after=None, limit=1)["items"][0]["serial"]
        )
    return [
        Page("/", "/"),
        Page("/projects", "/projects"),
        Page("/projects/{id}", "/projects/bench"),
        Page("/batches/{n}, first page", f"/batches/{batch.batch}"),
        Page("/batches/{n}, deep page", f"/batches/{batch.batch}?after={deep}"),
        Page("/findings", "/findings"),
        Page("/trace/{serial}, travelled block", f"/trace/{unit}"),
        Page("/trace/{serial}, a unit Turku claimed", f"/trace/{turku.sub(turku.first, turku.first)}"),
        Page("/cities/turku/2029", "/cities/turku/2029"),
        Page("/verify", "/verify"),
    ]


def _mounted(response: Response) -> bool:
    return response.status_code != 404 or response.headers.get("content-type", "").startswith("text/html")


def timed(client: TestClient, urls: list[str], requests: int) -> dict[str, list[float]]:
    """ms per request of each of ``urls``, requested round-robin ``requests`` times after a warm-up of 5."""
    taken: dict[str, list[float]] = {u: [] for u in urls}
    for n in range(requests + 5):
        for u in urls:
            began = time.perf_counter()
            response = client.get(u)
            ms = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{u} answered {response.status_code}: {response.text[:300]}")
            if n >= 5:
                taken[u].append(ms)
    return taken


def measure(node: Node, listed: list[Page], requests: int, db: str) -> None:
    with TestClient(create_app(node)) as client:
        began = time.perf_counter()
        # The first request of each page (the first trace builds the ownership graph); a page not
        # mounted answers the API's 404, which is not HTML.
        present = [page for page in listed if _mounted(client.get(page.url))]
        print(f"{db}: first request of each page (ownership graph built) in {time.perf_counter() - began:.1f} s")
        taken = timed(client, [HEALTH, *(page.url for page in present)], requests)
    health = p(taken[HEALTH], 0.5)
    print(f"{'database':<11} {'page':<36} {'p50 ms':>8} {'p99 ms':>8}  {'ratio p50/health p50':>20}")
    print(f"{db:<11} {'GET /v1/health (limit)':<36} {health:>8.2f} {p(taken[HEALTH], 0.99):>8.2f}  {1.0:>20.1f}")
    for page in present:
        p50, p99 = p(taken[page.url], 0.5), p(taken[page.url], 0.99)
        print(f"{db:<11} {page.name:<36} {p50:>8.2f} {p99:>8.2f}  {p50 / health:>20.1f}")
    missing = [page.name for page in listed if page not in present]
    if missing:
        print(f"not mounted yet, not timed: {', '.join(missing)}")


@contextmanager
def database(url: str | None) -> Iterator[str | None]:
    """A fresh schema of the PostgreSQL database at ``url`` (dropped afterwards), or None for SQLite."""
    if url is None:
        yield None
        return
    bench_ledger.POSTGRES_URL = url  # where postgres_schema makes its schema
    schema, schema_url = bench_ledger.postgres_schema()
    try:
        yield schema_url
    finally:
        bench_ledger.drop_schema(schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 blocks instead of 1,000,000")
    parser.add_argument("--database-url", help="a PostgreSQL database (a fresh schema is made in it and dropped)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests of each page (default 100)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    db = "postgresql" if args.database_url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp, database(args.database_url) as url:
        began = time.perf_counter()
        node, batch, seeded, travelled = fill(Path(tmp) / "registry", url, plan, db)
        print(
            f"{db}: {seeded + 1:,} blocks in the bench batch and the demo, filled in {time.perf_counter() - began:.0f}s"
        )
        heap.settle()  # as `registry serve` does once the registry is loaded
        measure(node, pages(node, batch, seeded, travelled), max(args.requests, 50), db)
        node.close()


if __name__ == "__main__":
    main()
