"""The audit in worker processes, as it runs on large logs."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.audit import AuditError, TrustedKeys, audit_log
from ledger.store import log_entries
from tests.builders import STATEMENT_SIGNER, log_key, sequencer, statement


def _log(engine: Engine, tmp_path: Path) -> str:
    seq = sequencer(engine, tmp_path / "checkpoint")
    for start in range(0, 1000, 200):
        seq.append([statement(n) for n in range(start, start + 200)])
    return (tmp_path / "checkpoint").read_text()


def test_worker_processes_check_every_signature(engine: Engine, tmp_path: Path) -> None:
    pinned = _log(engine, tmp_path)
    keys = TrustedKeys({STATEMENT_SIGNER.verifier.dsse_key_id: STATEMENT_SIGNER.verifier})
    report = audit_log(
        sequencer(engine).store, log_key().verifier, pinned_checkpoint=pinned, verify_envelope=keys, chunk=64
    )
    assert (report.size, report.entries) == (1000, 1000)
    with pytest.raises(AuditError) as failed:  # no trusted key: every envelope is refused
        audit_log(sequencer(engine).store, log_key().verifier, verify_envelope=TrustedKeys({}), chunk=64)
    assert failed.value.where == "entry 0"


def test_worker_processes_name_the_first_bad_entry(engine: Engine, tmp_path: Path) -> None:
    pinned = _log(engine, tmp_path)
    with engine.begin() as conn:
        for index in (700, 455):
            data = conn.execute(sa.select(log_entries.c.data).where(log_entries.c.idx == index)).scalar_one()
            conn.execute(
                log_entries.update().where(log_entries.c.idx == index).values(data=data.replace(b"{", b"[", 1))
            )
    keys = TrustedKeys({STATEMENT_SIGNER.verifier.dsse_key_id: STATEMENT_SIGNER.verifier})
    with pytest.raises(AuditError) as failed:
        audit_log(sequencer(engine).store, log_key().verifier, pinned_checkpoint=pinned, verify_envelope=keys, chunk=64)
    assert failed.value.where == "entry 455"
    assert "canonical" in failed.value.reason
