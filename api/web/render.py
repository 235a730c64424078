"""Rendering pages: the Jinja2 environment, its filters, and the HTML response every page returns."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from registry.errors import RecordNotFoundError

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def tonnes(value: int | None) -> str:
    """A whole number of tonnes with thin-space thousands separators (SI style): ``1 200 000``."""
    return "—" if value is None else f"{value:,}".replace(",", "\u202f")


templates.env.filters["tonnes"] = tonnes


def page(request: Request, template: str, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` inside the site's layout, with ``title`` as the page's heading and title."""
    return templates.TemplateResponse(request, template, {"title": title, **context}, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, message: str, **context: Any) -> HTMLResponse:
    """The error page (``not_found.html``): ``title`` as its heading, ``message`` saying what went wrong."""
    return page(request, "not_found.html", title, status_code=status_code, message=message, **context)


class PageRoute(APIRoute):
    """A page's route (``APIRouter(route_class=PageRoute)``): its errors answer as HTML pages.

    The JSON API's handlers would answer problem+json; a page answers the error page instead: 404
    for a record that does not exist, 422 naming each path or query parameter that is invalid.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RecordNotFoundError as exc:
                text = str(exc)
                return error_page(request, 404, "Not found", f"{text[:1].upper()}{text[1:]}.")
            except RequestValidationError as exc:
                invalid: dict[str, dict[str, str]] = {}
                for e in exc.errors():  # one row per parameter: a union's first alternative says enough
                    where, name = (*e["loc"], "")[:2]
                    invalid.setdefault(str(name), {"parameter": str(name), "where": str(where), "message": e["msg"]})
                names = ", ".join(invalid)
                return error_page(
                    request, 422, "Invalid request", f"Invalid parameter: {names}.", invalid=list(invalid.values())
                )

        return page_handler


def next_page(request: Request, cursor: object | None) -> str | None:
    """The URL of the page after this one (the same query, ``after`` set to ``cursor``), or None on the last."""
    if cursor is None:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "after" and v != ""]
    return f"{request.url.path}?{urlencode([*params, ('after', str(cursor))])}"
