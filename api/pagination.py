"""Cursor pagination: every list answers ``items`` and ``next`` (null on the last page).

A page that has a successor also names it in an RFC 8288 ``Link: <…>; rel="next"`` header,
the same URL with ``after`` set to ``next``, so a client can walk a list without building URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request, Response

P = TypeVar("P", bound=Mapping[str, Any])


class NextLink:
    """A dependency that links a list's answer to its next page."""

    def __init__(self, request: Request, response: Response) -> None:
        self._request = request
        self._response = response

    def __call__(self, page: P) -> P:
        """Return ``page``, having added ``Link: <url>; rel="next"`` when it has a ``next`` cursor."""
        cursor = page["next"]
        if cursor is not None:
            params = [(k, v) for k, v in self._request.query_params.multi_items() if k != "after"]
            params.append(("after", str(cursor)))
            # RFC 8288 §3: a URI reference, resolved against the request's URL (RFC 3986 §5).
            self._response.headers["Link"] = f'<{self._request.url.path}?{urlencode(params)}>; rel="next"'
        return page


async def next_link(request: Request, response: Response) -> NextLink:
    # async: FastAPI would build a plain class dependency on a worker thread, a hop per request.
    return NextLink(request, response)


NextLinkDep = Annotated[NextLink, Depends(next_link)]
