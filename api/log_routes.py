"""The log's read API: C2SP tlog-tiles resources and JSON proofs.

``/log/checkpoint``, ``/log/tile/<L>/<N>[.p/<W>]``, ``/log/tile/entries/<N>[.p/<W>]`` and
``/log/vkey`` follow C2SP tlog-tiles; ``/v1/log/...`` serves proofs and receipts as JSON
and tlog-proof text. Nothing beyond the latest published checkpoint is served.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from api.deps import NodeDep
from api.problems import NotFoundError, responses
from ledger.checkpoint import SignedCheckpoint
from ledger.merkle import leaf_hash
from ledger.tiles import parse_tile_path
from registry.node import Node

router = APIRouter()

IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_EXAMPLE = (
    "localhost/carbon-registry\n15\n+xUzKgBz+6fOcG9hz43ERXvlc5ImmsE7PrUARTGLREk=\n\n"
    "— localhost/carbon-registry kklmUcqwLQF81ug9BcbHL5Hi8vNQzWyejL/+4+1mVR650dA7JWB3QXeU"
    "fEecAT9lOY3nL7Xfl1HwvR9WZcEzOacMAwI=\n"
)
HASHES_EXAMPLE: list[Any] = [
    "R5za1X1gSkMQgmQjbk86mwmr5+kJvArShW0a9VhYiAA=",
    "cFJR19yoFKAYl9GgS08eF5knxLIcnxR4N5H1aKDLXIM=",
]


def _text(description: str, example: str, *problems: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a text/plain resource (with an example) and its problems."""
    ok = {"description": description, "content": {"text/plain": {"schema": {"type": "string"}, "example": example}}}
    return {200: ok, **responses(*problems)}


def entity_tag(data: bytes) -> str:
    """A strong entity tag (RFC 9110 §8.8.3): the quoted base64url SHA-256 of the representation."""
    return '"' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    # RFC 9110 §13.1.2: "*" matches any current representation; otherwise a list of tags,
    # compared weakly (a W/ prefix is ignored).
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def cached(request: Request, data: bytes, media_type: str, cache_control: str) -> Response:
    """``data`` with its ETag, or 304 Not Modified when the request's If-None-Match names that tag."""
    etag = entity_tag(data)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if _matches(request.headers.get("if-none-match"), etag):
        # RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have, and no body.
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


@router.get(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    tags=["log"],
    summary="The latest checkpoint",
    responses={
        **_text("The signed checkpoint (C2SP tlog-checkpoint).", CHECKPOINT_EXAMPLE),
        304: {"description": "If-None-Match named the current checkpoint's ETag."},
    },
)
def checkpoint(request: Request, node: NodeDep) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint); with witnesses, the latest their quorum co-signed.

    ``no-cache``: a cache revalidates it each time, and If-None-Match with its ETag answers 304.
    """
    return cached(request, node.served_checkpoint().encode().encode(), "text/plain; charset=utf-8", "no-cache")


@router.get(
    "/log/vkey",
    response_class=PlainTextResponse,
    tags=["log"],
    summary="The log's verifier key",
    responses=_text("The verifier key, name+hexid+base64.", "localhost/carbon-registry+92494865+AQ3n…\n"),
)
def vkey(node: NodeDep) -> PlainTextResponse:
    """The log's verifier key, ``name+hexid+base64``."""
    return PlainTextResponse(node.log_vkey.text() + "\n", media_type="text/plain; charset=utf-8")


@router.get(
    "/log/tile/{level}/{rest:path}",
    tags=["log"],
    summary="A tile or an entry bundle",
    response_class=Response,
    responses={
        200: {
            "description": "The tile's hashes, or the bundle's entries (C2SP tlog-tiles); immutable.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}, "example": "(binary)"}
            },
        },
        304: {"description": "If-None-Match named the tile's ETag."},
        **responses(404),
    },
)
def tile(level: str, rest: str, request: Request, node: NodeDep) -> Response:
    """A hash tile or an entry bundle (C2SP tlog-tiles), if the published tree holds it."""
    try:
        coords = parse_tile_path(level, rest)
    except ValueError as exc:
        raise NotFoundError(f"no such tile: {exc}") from exc
    # A tile served before is published and immutable: no need to look up the checkpoint again.
    data = node.reader.served_tile(coords) or node.reader.tile(coords, node.latest_checkpoint().size)
    if data is None:
        raise NotFoundError(f"{coords.path} is not covered by the published checkpoint")
    # Full tiles never change; a partial tile of a given width never changes either.
    return cached(request, data, "application/octet-stream", IMMUTABLE)


class InclusionProof(BaseModel):
    """An RFC 9162 inclusion proof of one entry in a published tree."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 3,
                    "tree_size": 15,
                    "leaf_hash": "+Mqrrv4jgZykW7MYC9tUtQODh5aUwAWzeRYLY8nK/pQ=",
                    "hashes": HASHES_EXAMPLE,
                    "checkpoint": CHECKPOINT_EXAMPLE,
                }
            ]
        }
    )

    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]
    checkpoint: str | None
    """The signed checkpoint of exactly this tree size, when the log signed one."""


class ConsistencyProof(BaseModel):
    """An RFC 9162 consistency proof between two published tree sizes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"first": 3, "second": 15, "hashes": HASHES_EXAMPLE, "checkpoint": CHECKPOINT_EXAMPLE}]
        }
    )

    first: int
    second: int
    hashes: list[str]
    checkpoint: str | None
    """The signed checkpoint of exactly this tree size, when the log signed one."""


def _checkpoint_for(node: Node, size: int, latest: SignedCheckpoint) -> str | None:
    return latest.encode() if size == latest.size else node.store.checkpoint_at(size)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@router.get(
    "/v1/log/entries/{index}/inclusion-proof", tags=["log"], summary="An inclusion proof", responses=responses(404, 422)
)
def inclusion_proof(index: int, node: NodeDep, tree_size: Annotated[int | None, Query(ge=1)] = None) -> InclusionProof:
    """The inclusion proof of entry ``index`` in the tree of ``tree_size`` (default: the latest)."""
    latest = node.latest_checkpoint()
    size = tree_size or latest.size
    if size > latest.size:
        raise NotFoundError(f"tree size {size} is beyond the published checkpoint ({latest.size})")
    if not 0 <= index < size:
        raise NotFoundError(f"entry {index} is not in the tree of size {size}")
    entry = node.store.entry(index)
    if entry is None:
        raise NotFoundError(f"entry {index} is missing")
    hashes = node.reader.inclusion_proof(index, size)
    return InclusionProof(
        index=index,
        tree_size=size,
        leaf_hash=_b64(leaf_hash(entry)),
        hashes=[_b64(h) for h in hashes],
        checkpoint=_checkpoint_for(node, size, latest),
    )


@router.get("/v1/log/consistency-proof", tags=["log"], summary="A consistency proof", responses=responses(404, 422))
def consistency_proof(
    first: Annotated[int, Query(ge=1)], node: NodeDep, second: Annotated[int | None, Query(ge=1)] = None
) -> ConsistencyProof:
    """The consistency proof from tree size ``first`` to ``second`` (default: the latest)."""
    latest = node.latest_checkpoint()
    size2 = second or latest.size
    if size2 > latest.size:
        raise NotFoundError(f"tree size {size2} is beyond the published checkpoint ({latest.size})")
    if first > size2:
        raise NotFoundError(f"first ({first}) is larger than second ({size2})")
    hashes = node.reader.consistency_proof(first, size2)
    return ConsistencyProof(
        first=first,
        second=size2,
        hashes=[_b64(h) for h in hashes],
        checkpoint=_checkpoint_for(node, size2, latest),
    )


@router.get(
    "/v1/log/entries/{index}/receipt",
    response_class=PlainTextResponse,
    tags=["log"],
    summary="A receipt of an entry",
    responses=_text("A C2SP tlog-proof receipt.", "c2sp.org/tlog-proof@v1\nindex 3\n…", 404, 422),
)
def receipt(index: int, node: NodeDep) -> PlainTextResponse:
    """A C2SP tlog-proof receipt of entry ``index``: against the served (witnessed) checkpoint once it
    covers the entry, so the receipt carries the witnesses' cosignatures; until then the latest."""
    latest = node.latest_checkpoint()
    if not 0 <= index < latest.size:
        raise NotFoundError(f"entry {index} is not covered by the published checkpoint ({latest.size})")
    served = node.served_checkpoint()
    against = served if index < served.size else latest
    return PlainTextResponse(node.reader.receipt(index, against).encode(), media_type="text/plain; charset=utf-8")
