"""A registry and two witnesses, as separate processes: a quorum of both, and a forked log refused.

The registry pushes each checkpoint to both witnesses (``registry witness``) and serves the
latest one both co-signed; an auditor requiring both (``registry audit --url --policy``)
accepts it. A second registry with the same log key, whose history departs from the first
(a rewritten last entry, or a longer branch), is refused by both witnesses, which keep its
checkpoint as evidence, and by ``registry audit --url``, which prints the pinned checkpoint
and the contradicting one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ledger.checkpoint import SignedCheckpoint
from ledger.database import create_engine
from ledger.errors import CheckpointError
from ledger.keys import ALG_COSIGNATURE_V1, SignerKey
from ledger.trust_policy import Policy
from ledger.witness import witness_evidence
from registry import commands
from registry.node import open_node
from tests.builders import populated_node

pytestmark = pytest.mark.slow
ORIGIN = "localhost/carbon-registry"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _registry_process(*args: str | Path | int) -> Iterator[subprocess.Popen[str]]:
    """Run ``registry ARGS...`` as its own process; stop it afterwards."""
    command = [sys.executable, "-m", "api.cli", *map(str, args)]
    # stderr (warnings about refusing witnesses, every round) goes nowhere that can fill up and block.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _until(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _served(url: str) -> str:
    try:
        return httpx.get(f"{url}/log/checkpoint", timeout=2).text
    except httpx.HTTPError:
        return ""


def _meets(policy: Policy, note: str, size: int) -> bool:
    try:
        signed: SignedCheckpoint = policy.verify(note)
    except CheckpointError:
        return False
    return signed.size == size


def _registry(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _audit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return _registry("audit", *args)


def _open_accounts(root: Path, names: list[str]) -> None:
    """Log one account opening per name in the registry at ``root`` (not served meanwhile)."""
    operator = SignerKey.parse((root / "keys" / "operator.key").read_text())
    node = open_node(root)
    try:
        for name in names:
            command = commands.open_account(
                ORIGIN,
                operator="operator",
                account=name,
                role="buyer",
                name=name,
                keys=[commands.public_key(SignerKey.generate(name))],
            )
            node.registry.submit(commands.sign(command, [operator]))
    finally:
        node.close()


def _evidence(witness_dir: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{witness_dir / 'witness.db'}")
    with engine.connect() as conn:
        reasons = [row.reason for row in conn.execute(sa.select(witness_evidence.c.reason))]
    engine.dispose()
    return reasons


def test_two_witnesses_co_sign_the_log_and_refuse_its_forks(tmp_path: Path) -> None:
    honest = tmp_path / "registry"
    populated_node(honest, 20, batch_size=10).close()
    rewritten, branched = tmp_path / "rewritten", tmp_path / "branched"
    shutil.copytree(honest, rewritten)  # same log key, same first 20 entries
    shutil.copytree(honest, branched)
    log_vkey = (honest / "log.vkey").read_text().strip()

    ports = {name: _free_port() for name in ("w1", "w2", "honest", "rewritten", "branched")}
    with (
        _registry_process(
            "witness", "--data-dir", tmp_path / "w1", "--name", "w1.witness.test", "--log", log_vkey,
            "--port", ports["w1"],
        ) as w1,
        _registry_process(
            "witness", "--data-dir", tmp_path / "w2", "--name", "w2.witness.test", "--log", log_vkey,
            "--port", ports["w2"],
        ) as w2,
    ):  # fmt: skip
        assert w1.stdout is not None and w2.stdout is not None
        witness_keys = [w1.stdout.readline().strip(), w2.stdout.readline().strip()]
        policy_text = (
            f"log {log_vkey}\n"
            f"witness w1 {witness_keys[0]} http://127.0.0.1:{ports['w1']}\n"
            f"witness w2 {witness_keys[1]} http://127.0.0.1:{ports['w2']}\n"
            "group both all w1 w2\n"
            "quorum both\n"
        )
        policy = Policy.parse(policy_text)
        auditor_policy = tmp_path / "auditor.policy"
        auditor_policy.write_text(policy_text)
        for root in (honest, rewritten, branched):
            (root / "witnesses.policy").write_text(policy_text)
        pin = tmp_path / "pinned-checkpoint"

        honest_url = f"http://127.0.0.1:{ports['honest']}"
        with _registry_process("serve", "--data-dir", honest, "--port", ports["honest"]):
            # The registry pushes its checkpoint of size 20 to both witnesses and serves it co-signed.
            _until("a checkpoint co-signed by both", lambda: _meets(policy, _served(honest_url), 20))
            pin.write_text(_served(honest_url))
            # A new event: checkpoint 21 is pushed, co-signed by both, and served.
            operator = SignerKey.parse((honest / "keys" / "operator.key").read_text())
            event = commands.open_account(
                ORIGIN, operator="operator", account="late-buyer", role="buyer", name="Late buyer",
                keys=[commands.public_key(SignerKey.generate("late-buyer"))],
            )  # fmt: skip
            answer = httpx.post(f"{honest_url}/v1/events", json=commands.sign(event, [operator]).to_json(), timeout=10)
            assert answer.status_code == 201, answer.text
            _until("checkpoint 21 co-signed by both", lambda: _meets(policy, _served(honest_url), 21))
            for port in (ports["w1"], ports["w2"]):
                assert httpx.get(f"http://127.0.0.1:{port}/").text.splitlines()[1] == f"{ORIGIN} 21"
            # The auditor, pinned at 20 and requiring both witnesses, follows the log to 21.
            audited = _audit("--url", honest_url, "--policy", auditor_policy, "--checkpoint", pin)
            assert audited.returncode == 0, audited.stdout + audited.stderr
            honest_21 = _served(honest_url)
            # A receipt of the new entry now carries both cosignatures, and verifies offline under the policy.
            receipt = tmp_path / "entry-20.tlog-proof"
            receipt.write_text(httpx.get(f"{honest_url}/v1/log/entries/20/receipt").text)
            checked = _registry("verify-receipt", receipt, "--policy", auditor_policy)
            assert checked.returncode == 0, checked.stderr
            assert "co-signed by 2 witness(es)" in " ".join(checked.stderr.split())
            # Under a policy that also needs a third witness, the same receipt is refused.
            w3 = SignerKey.generate("w3.witness.test", ALG_COSIGNATURE_V1).verifier.text()
            stricter = tmp_path / "stricter.policy"
            stricter.write_text(
                policy_text.replace("group both all w1 w2", f"witness w3 {w3}\ngroup both all w1 w2 w3")
            )
            refused_receipt = _registry("verify-receipt", receipt, "--policy", stricter)
            assert refused_receipt.returncode == 1, refused_receipt.stderr
            assert "receipt does not verify" in refused_receipt.stderr
        assert _meets(policy, pin.read_text(), 21)  # the pin moved forward with the audit

        # Rewritten: entry 20 is a different event, so tree 21 has another root.
        _open_accounts(rewritten, ["rewritten-buyer"])
        # Branched: three other entries after 20, a tree of 23 that does not extend 21.
        _open_accounts(branched, ["branch-1", "branch-2", "branch-3"])
        for name, root, reason in (
            ("rewritten", rewritten, "size 21 was co-signed with a different root"),
            ("branched", branched, "not consistent with size 21"),
        ):
            url = f"http://127.0.0.1:{ports[name]}"
            with _registry_process("serve", "--data-dir", root, "--port", ports[name]):
                _until(f"the {name} log's checkpoint", lambda url=url: bool(_served(url)))  # type: ignore[misc]
                # Both witnesses refuse it and keep it as evidence; neither moves from 21.
                _until(
                    f"both witnesses refusing the {name} log",
                    lambda reason=reason: all(  # type: ignore[misc]
                        any(reason in r for r in _evidence(tmp_path / w)) for w in ("w1", "w2")
                    ),
                )
                for port in (ports["w1"], ports["w2"]):
                    assert httpx.get(f"http://127.0.0.1:{port}/").text.splitlines()[1] == f"{ORIGIN} 21"
                served = _served(url)
                assert not _meets(policy, served, 21) and not _meets(policy, served, 23)
                # The policy refuses the fork for want of cosignatures.
                refused = _audit("--url", url, "--policy", auditor_policy, "--checkpoint", pin)
                assert refused.returncode == 1, refused.stdout + refused.stderr
                # With the log key alone, the audit finds the fork against its pin and prints both notes.
                forked = _audit("--url", url, "--vkey", log_vkey, "--checkpoint", pin)
                printed = forked.stdout + forked.stderr
                assert forked.returncode == 1, printed
                assert honest_21.split("\n\n")[0] in printed
                assert served.split("\n\n")[0] in printed
            assert _meets(policy, pin.read_text(), 21)  # a refused audit leaves the pin alone
