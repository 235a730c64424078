"""``/verify``: check a receipt in the reader's own browser, trusting nothing the server says after the key.

The page only serves the form and the log's verifier key (the text ``GET /log/vkey`` serves, editable);
``static/verify.js`` parses the C2SP tlog-proof receipt, checks the checkpoint's Ed25519 signature and
the RFC 9162 inclusion proof with WebCrypto, and reports each step. ``?entry=N`` makes the page fetch
and verify the receipt of log entry N.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import NodeDep
from api.web.render import PageRoute, page

router = APIRouter(route_class=PageRoute)


@router.get("/verify", response_class=HTMLResponse)
def verify(request: Request, node: NodeDep, entry: Annotated[int | None, Query(ge=0)] = None) -> HTMLResponse:
    """The receipt verifier, with the log's verifier key prefilled and ``entry`` preselected."""
    return page(
        request,
        "verify.html",
        "Verify a receipt",
        section="verify",
        vkey=node.log_vkey.text(),
        entry=entry,
        size=node.served_checkpoint().size,
    )
