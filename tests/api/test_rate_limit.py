"""The per-key write rate limit: token buckets, and ``POST /v1/events`` answering 429 with Retry-After."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.rate_limit import RateLimitedError, WriteRateLimiter
from api.settings import Settings
from ledger.dsse import Envelope, Signature
from ledger.keys import SignerKey
from registry import commands
from registry.node import Node
from tests.builders import party_key, populated_node


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the buckets ------------------------------------------------------------------------------


def take(limiter: WriteRateLimiter, *keyids: str) -> None:
    """What POST /v1/events does for an event that is then accepted."""
    limiter.check(keyids)
    limiter.spend(keyids)


def test_a_key_gets_its_burst_then_waits_for_tokens() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        take(limiter, "k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check(["k"])
    assert (refused.value.keyid, refused.value.retry_after) == ("k", 1)  # half a second, rounded up
    clock.now += 0.5
    take(limiter, "k")  # one token came back
    with pytest.raises(RateLimitedError):
        limiter.check(["k"])
    clock.now += 10
    for _ in range(3):  # refilled to the burst, never beyond
        take(limiter, "k")
    with pytest.raises(RateLimitedError):
        limiter.check(["k"])


def test_retry_after_is_whole_seconds_until_one_token() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(rate=0.25, burst=1, clock=clock)
    take(limiter, "k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check(["k"])
    assert refused.value.retry_after == 4
    clock.now += 2.5
    with pytest.raises(RateLimitedError) as again:
        limiter.check(["k"])
    assert again.value.retry_after == 2  # 1.5 s, rounded up


def test_other_keys_are_unaffected_and_a_refusal_takes_no_token() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(rate=1.0, burst=2, clock=clock)
    take(limiter, "a")
    take(limiter, "a")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check(["b", "a"])  # limited if any of its keys is out of tokens
    assert refused.value.keyid == "a"
    take(limiter, "b")  # the refusal above took nothing from b
    take(limiter, "b")
    with pytest.raises(RateLimitedError):
        limiter.check(["b"])
    take(limiter, "c")


def test_checking_creates_no_bucket() -> None:
    # Anyone may name any key id: only keys that wrote take memory.
    limiter = WriteRateLimiter(rate=1.0, burst=2, clock=FakeClock())
    for n in range(1000):
        limiter.check([f"key-{n}"])
    assert len(limiter) == 0


def test_overspending_is_a_debt_the_key_waits_out() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(rate=1.0, burst=2, clock=clock)
    for _ in range(4):  # four requests passed the check together; all four were accepted
        limiter.spend(["k"])
    with pytest.raises(RateLimitedError) as refused:
        limiter.check(["k"])
    assert refused.value.retry_after == 3  # from -2 tokens to 1
    clock.now += 3
    limiter.check(["k"])


def test_idle_buckets_are_dropped_and_memory_is_capped() -> None:
    clock = FakeClock()
    limiter = WriteRateLimiter(rate=10.0, burst=5, clock=clock, max_keys=3)
    for name in ("a", "b", "c", "d"):
        take(limiter, name)
    assert len(limiter) == 3  # the least recently used went first
    clock.now += 0.1  # each bucket has its token back: none needs to be kept
    take(limiter, "e")
    assert len(limiter) == 1


def test_a_rate_of_zero_disables_the_limit() -> None:
    limiter = WriteRateLimiter(rate=0, burst=1, clock=FakeClock())
    for _ in range(100):
        take(limiter, "k")
    assert len(limiter) == 0


def test_concurrent_spending_loses_no_token() -> None:
    limiter = WriteRateLimiter(rate=1e-9, burst=801, clock=FakeClock())

    def worker() -> None:
        for _ in range(200):
            limiter.spend(["shared"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter.check(["shared"])  # exactly one token is left
    limiter.spend(["shared"])
    with pytest.raises(RateLimitedError):
        limiter.check(["shared"])


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().write_rate, Settings().write_burst) == (100.0, 200)
    monkeypatch.setenv("REGISTRY_WRITE_RATE", "2.5")
    monkeypatch.setenv("REGISTRY_WRITE_BURST", "7")
    assert (Settings().write_rate, Settings().write_burst) == (2.5, 7)
    monkeypatch.setenv("REGISTRY_WRITE_RATE", "-1")
    with pytest.raises(ValueError, match="write_rate"):
        Settings()


# --- over HTTP --------------------------------------------------------------------------------


@dataclass
class Limited:
    node: Node
    client: TestClient
    clock: FakeClock
    operator: SignerKey

    def open_account(self, name: str, role: str = "buyer", signer: SignerKey | None = None) -> httpx.Response:
        command = commands.open_account(
            self.node.origin,
            operator="operator",
            account=name,
            role=role,
            name=name.title(),
            keys=[commands.public_key(party_key(name))],
        )
        return self.post(commands.sign(command, [signer or self.operator]))

    def post(self, envelope: Envelope) -> httpx.Response:
        response: httpx.Response = self.client.post("/v1/events", content=json.dumps(envelope.to_json()))
        return response

    def log_size(self) -> int:
        return self.node.store.head()[0]


@pytest.fixture
def limited(tmp_path: Path, database_cli_url: str) -> Iterator[Limited]:
    """A registry whose keys may write 3 events at once, then one a second, on a clock the test moves."""
    root = tmp_path / "registry"
    node = populated_node(root, 1, database_url=database_cli_url)
    clock = FakeClock()
    limiter = WriteRateLimiter(rate=1.0, burst=3, clock=clock)
    app = create_app(node, Settings(write_rate=1.0, write_burst=3), limiter=limiter)
    operator = SignerKey.parse((root / "keys" / "operator.key").read_text())
    yield Limited(node, TestClient(app), clock, operator)
    node.close()


def test_a_key_over_its_rate_gets_429_with_retry_after_and_nothing_is_written(limited: Limited) -> None:
    for name in ("supplier", "verifier", "buyer"):
        assert limited.open_account(name, "supplier" if name == "supplier" else "buyer").status_code == 201
    size = limited.log_size()
    checkpoint = limited.client.get("/log/checkpoint").text

    refused = limited.open_account("buyer-2")
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    body = refused.json()
    assert (body["type"], body["status"], body["retry_after"]) == ("/problems/rate-limited", 429, 1)
    assert body["keyid"] == limited.operator.verifier.dsse_key_id
    assert limited.log_size() == size
    assert limited.client.get("/log/checkpoint").text == checkpoint

    # The supplier's key has its own bucket: its request gets past the limit (and is refused for what it is).
    by_supplier = limited.open_account("buyer-2", signer=party_key("supplier"))
    assert (by_supplier.status_code, by_supplier.json()["type"]) == (403, "/problems/unauthorised")

    # A second later the operator has one token again.
    limited.clock.now += 1.0
    again = limited.open_account("buyer-2")
    assert again.status_code == 201, again.text
    assert limited.open_account("buyer-3").status_code == 429
    assert limited.log_size() == size + 1


def test_forged_and_replayed_envelopes_spend_no_token(limited: Limited) -> None:
    # Key ids are public: an envelope naming the operator's key but not signed by it, or a
    # replay of one it signed, must not use up the operator's tokens.
    opened = commands.open_account(
        limited.node.origin,
        operator="operator",
        account="buyer",
        role="buyer",
        name="Buyer",
        keys=[commands.public_key(party_key("buyer"))],
    )
    genuine = commands.sign(opened, [limited.operator])
    forged = Envelope(genuine.payload_type, genuine.payload, (Signature(genuine.keyids[0], b"\0" * 64),))
    for _ in range(5):
        assert limited.post(forged).status_code == 403
    assert limited.post(genuine).status_code == 201
    for _ in range(5):
        assert limited.post(genuine).status_code == 200  # a resubmission changes nothing
    assert limited.open_account("supplier", "supplier").status_code == 201
    assert limited.open_account("verifier").status_code == 201
    assert limited.open_account("buyer-2").status_code == 429


def test_create_app_reads_the_limit_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_cli_url: str
) -> None:
    monkeypatch.setenv("REGISTRY_WRITE_RATE", "0.5")
    monkeypatch.setenv("REGISTRY_WRITE_BURST", "1")
    node = populated_node(tmp_path / "registry", 1, database_url=database_cli_url)
    try:
        limiter = create_app(node).state.write_limiter
        assert (limiter.rate, limiter.burst) == (0.5, 1)
    finally:
        node.close()
