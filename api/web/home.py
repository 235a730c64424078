"""``/``: the registry at a glance — its totals, the latest checkpoint and the witnesses that co-signed it."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ConnectionDep, NodeDep
from api.web.render import PageRoute, page
from ledger.checkpoint import SignedCheckpoint
from ledger.keys import ALG_COSIGNATURE_V1, VerifierKey
from registry import overview

router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True)
class WitnessRow:
    """A witness of the registry's policy, or one that co-signed the checkpoint."""

    name: str
    key_id: str
    cosigned: bool
    time: str | None
    """When it co-signed (the timestamp of its tlog-cosignature/v1), in UTC."""


@router.get("/", response_class=HTMLResponse)
def home(request: Request, conn: ConnectionDep, node: NodeDep) -> HTMLResponse:
    """Totals of units issued, held, in buffer pools, retired, claimed and cancelled; the checkpoint served."""
    checkpoint = node.served_checkpoint()
    named = list(node.witness_policy.witnesses.values()) if node.witness_policy is not None else []
    return page(
        request,
        "home.html",
        "The registry at a glance",
        totals=overview.totals(conn),
        checkpoint=checkpoint,
        root=base64.b64encode(checkpoint.root).decode(),
        witnesses=witness_rows(checkpoint, [w.key for w in named]),
    )


def witness_rows(checkpoint: SignedCheckpoint, named: list[VerifierKey]) -> list[WitnessRow]:
    """Each witness that co-signed ``checkpoint`` (with its time), then each key of ``named`` that did not."""
    times = {  # tlog-cosignature/v1: an 8-byte big-endian timestamp, then the Ed25519 signature
        (s.name, s.key_id): int.from_bytes(s.signature[:8], "big") for s in checkpoint.note.signatures
    }
    rows = [
        WitnessRow(
            key.name, f"{key.key_id:08x}", True, _utc(times[key.name, key.key_id]) if _timed(key, times) else None
        )
        for key in checkpoint.cosigners
    ]
    return rows + [
        WitnessRow(key.name, f"{key.key_id:08x}", False, None) for key in named if key not in checkpoint.cosigners
    ]


def _timed(key: VerifierKey, times: dict[tuple[str, int], int]) -> bool:
    return key.alg == ALG_COSIGNATURE_V1 and (key.name, key.key_id) in times


def _utc(timestamp: int) -> str | None:
    """The cosignature's time, or None for one no calendar holds (a witness's clock is its own word)."""
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return None
