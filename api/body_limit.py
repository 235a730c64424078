"""An ASGI middleware that bounds every request body.

A body whose ``Content-Length`` is over the limit is refused before any of it is read; a body
sent without one (chunked) is counted as the application reads it, and reading past the limit
raises :class:`~api.problems.BodyTooLargeError`, which the application answers as 413
problem+json (RFC 9110 §15.5.14).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import BodyTooLargeError, problem


class BodyLimit:
    """Refuse request bodies larger than ``limit`` bytes, on every route."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            error = BodyTooLargeError(declared, self.limit)
            response = problem(413, error.code, "Body too large", str(error), limit=self.limit)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLargeError(received, self.limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
