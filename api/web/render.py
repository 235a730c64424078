"""Rendering pages: the Jinja2 environment, its filters, and the HTML response every page returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def tonnes(value: int | None) -> str:
    """A whole number of tonnes with thin-space thousands separators (SI style): ``1 200 000``."""
    return "—" if value is None else f"{value:,}".replace(",", "\u202f")


templates.env.filters["tonnes"] = tonnes


def page(request: Request, template: str, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` inside the site's layout, with ``title`` as the page's heading and title."""
    return templates.TemplateResponse(request, template, {"title": title, **context}, status_code=status_code)
