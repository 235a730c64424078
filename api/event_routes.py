"""``POST /v1/events``: the one way to change the registry, and ``GET /v1/events/{id}``.

The body is a DSSE envelope (JSON) whose payload is an RFC 8785 canonical event of
:mod:`registry.events`. The answer is the event's log index and a C2SP tlog-proof receipt
that the client can verify offline against the log's key. Resubmitting an accepted event
answers 200 with its original index; nothing changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from api.deps import ConnectionDep, NodeDep, WriteLimiterDep, WriterDep
from api.problems import BodyTooLargeError, responses
from ledger.dsse import Envelope
from ledger.errors import EnvelopeError
from ledger.tiles import MAX_ENTRY_SIZE
from registry import queries
from registry.node import Receipted
from registry.state import Applied

router = APIRouter(tags=["events"])

MAX_BODY = MAX_ENTRY_SIZE
"""A log entry holds at most 65,535 bytes (C2SP tlog-tiles); an envelope cannot be larger."""

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payload", "payloadType", "signatures"],
    "additionalProperties": False,
    "properties": {
        "payload": {"type": "string", "description": "base64 of the canonical JSON event"},
        "payloadType": {"type": "string", "enum": ["application/vnd.carbon-registry.statement+json"]},
        "signatures": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["keyid", "sig"],
                "additionalProperties": False,
                "properties": {"keyid": {"type": "string"}, "sig": {"type": "string"}},
            },
        },
    },
}


ENVELOPE_EXAMPLE = {
    "payload": "eyJmcm9tIjoic3VwcGxpZXIiLCJpZCI6IjkxMDIxNTc2LTE1ODEtNDRmNS1hNzAzLThmNjM3ODNlZmRhMSIsInJlZ2lzdHJ5Ijoi"
    "bG9jYWxob3N0L2NhcmJvbi1yZWdpc3RyeSIsInNlcmlhbCI6InBlcm0uMjAyOC4xLjQwMS01MDAiLCJ0byI6ImJ1eWVyIiwidHlwZSI6InRy"
    "YW5zZmVyIn0=",
    "payloadType": "application/vnd.carbon-registry.statement+json",
    "signatures": [
        {
            "keyid": "f6f7ab4a0f254dad49badefc39a741cb",
            "sig": "hSxaE467xpWvvreH89UB3cp0h4Hsxv8nNbuapiBBMm/Fwd6l3G3CGhLmkorUYAqX/QzfNwjZiY2GxhZ+4wP3CA==",
        }
    ],
}
"""A transfer of perm.2028.1.401-500 from ``supplier`` to ``buyer`` (signed by an example key)."""


class EventAccepted(BaseModel):
    """An accepted event: where it is in the log, and the proof that it is there."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 9,
                    "id": "91021576-1581-44f5-a703-8f63783efda1",
                    "type": "transfer",
                    "duplicate": False,
                    "checkpoint": "localhost/carbon-registry\n10\nfAkhVhePq9AmeVnNPlPsy7CO7Vl4TTGz4…=\n\n— …\n",
                    "receipt": "c2sp.org/tlog-proof@v1\nindex 9\n…",
                }
            ]
        }
    )

    index: int
    id: str
    type: str
    duplicate: bool
    """True when this exact event had been accepted before: nothing changed."""
    checkpoint: str
    """The signed checkpoint the receipt proves inclusion in."""
    receipt: str
    """A C2SP tlog-proof of the entry, with the entry itself in its extra data."""


@router.post(
    "/v1/events",
    status_code=201,
    summary="Submit a signed event",
    response_model=EventAccepted,
    responses={
        200: {"description": "already accepted; nothing changed", "model": EventAccepted},
        **responses(400, 403, 409, 413, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ENVELOPE_SCHEMA, "example": ENVELOPE_EXAMPLE}},
        }
    },
)
async def submit_event(request: Request, node: NodeDep, limiter: WriteLimiterDep, writer: WriterDep) -> JSONResponse:
    """Submit a signed event. Refusals are problem+json naming the field, key or units at fault.

    Each signing key may submit ``REGISTRY_WRITE_RATE`` events a second (429 with Retry-After beyond).
    """
    envelope = Envelope.from_json(_parse_json(await _read_body(request)))
    limiter.check(envelope.keyids)  # before anything is done: a limited event writes nothing
    # The request awaits its group commit without holding a thread (registry.service), in the
    # writer process under `registry serve` (registry.writer), else in this one.
    if writer is not None:
        receipted = await writer.submit(envelope)
    else:
        applied = await asyncio.wrap_future(node.registry.enqueue(envelope))
        # Off the event loop: a proof may read a tile the cache and the writer's memory lack.
        receipted = await run_in_threadpool(node.receipted, applied)
    if not receipted.duplicate:
        limiter.spend(envelope.keyids)  # only the keys' holders can make a new event accepted
    return JSONResponse(_accepted(receipted).model_dump(), status_code=200 if receipted.duplicate else 201)


@router.get(
    "/v1/events/{event_id}", summary="An accepted event", response_model=EventAccepted, responses=responses(404)
)
def get_event(event_id: str, node: NodeDep, conn: ConnectionDep) -> EventAccepted:
    """An accepted event by its idempotency id, with a receipt against the latest checkpoint."""
    index, event_type = queries.event(conn, event_id)
    return _accepted(node.receipted(Applied(index, event_id, event_type, duplicate=True)))


def _accepted(receipted: Receipted) -> EventAccepted:
    return EventAccepted(
        index=receipted.index,
        id=receipted.event_id,
        type=receipted.type,
        duplicate=receipted.duplicate,
        checkpoint=receipted.checkpoint,
        receipt=receipted.receipt,
    )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLargeError(int(declared), MAX_BODY)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BodyTooLargeError(len(body), MAX_BODY)
    return bytes(body)


class _Number(str):
    """A non-integer number in the body, kept as text so that its path can be named."""


def _parse_json(body: bytes) -> Any:
    """Parse the body strictly: duplicate keys, floats, NaN and over-deep nesting name where they are."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise EnvelopeError(f"body: the key {key!r} appears twice in one object")
            seen[key] = value
        return seen

    try:
        value = json.loads(body, object_pairs_hook=no_duplicates, parse_float=_Number, parse_constant=_Number)
        _refuse_numbers(value, "body")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"body: not valid JSON: {exc}") from exc
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise EnvelopeError(f"body: not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise EnvelopeError("body: JSON is nested too deeply") from exc
    return value


def _refuse_numbers(value: Any, path: str) -> None:
    # DESIGN.md §3: no floats anywhere in signed data, nor in the envelope that carries it.
    if isinstance(value, _Number):
        raise EnvelopeError(f"{path}: number {value} is not allowed in an envelope")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_numbers(item, f"{path}[{i}]")
