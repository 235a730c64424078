"""The witness's HTTP interface (C2SP tlog-witness), and the only place its refusals become statuses.

``POST /add-checkpoint`` answers 200 with cosignature lines, or the status the spec assigns
to each refusal: 400 malformed, 403 not signed by the log, 404 unknown log, 409 with the
size held (``text/x.tlog.size``), 422 inconsistent. ``GET /`` names the witness's key and
what it holds for each log.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from ledger.witness import SIZE_MEDIA_TYPE, SizeConflictError, Witness, WitnessError

MAX_BODY = 64 * 1024  # a checkpoint, 63 proof hashes and a few signatures fit many times over
TEXT = "text/plain; charset=utf-8"


def create_witness_app(witness: Witness) -> FastAPI:
    """Return the HTTP application of ``witness``."""
    app = FastAPI(title="Checkpoint witness (C2SP tlog-witness)", version="0.1.0")

    @app.post("/add-checkpoint", response_class=PlainTextResponse)
    async def add_checkpoint(request: Request) -> Response:
        """Co-sign a checkpoint that extends the one held for its log (C2SP tlog-witness § add-checkpoint)."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse(f"the body is over {MAX_BODY} bytes\n", status_code=413, media_type=TEXT)
        try:
            lines = await run_in_threadpool(witness.add_checkpoint, bytes(body))
        except SizeConflictError as exc:
            # "The response body MUST consist of the tree size of the latest cosigned checkpoint."
            # … and "MUST have a Content-Type of text/x.tlog.size" (no charset parameter added).
            return Response(f"{exc.size}\n".encode(), status_code=409, headers={"content-type": SIZE_MEDIA_TYPE})
        except WitnessError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=exc.status, media_type=TEXT)
        return PlainTextResponse(lines, media_type=TEXT)

    @app.get("/", response_class=PlainTextResponse)
    def about() -> PlainTextResponse:
        """The witness's verifier key, then one line per known log: origin and the size it holds."""
        lines = [witness.verifier.text()]
        for origin in sorted(witness.logs):
            held = witness.held(origin)
            lines.append(f"{origin} {held.size if held else 0}")
        return PlainTextResponse("\n".join(lines) + "\n", media_type=TEXT)

    return app
