"""The registry's web pages: server-rendered HTML from the same application, no build step, no CDN.

Each page lives in a module named for what it shows and exposes a ``router``; :func:`install`
mounts them all with the stylesheet and scripts under ``/static``. Pages read through
:mod:`registry.queries` like the JSON API, so what a page shows is what the API serves.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on ``app``."""
    from api.web import pages

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in pages.ROUTERS:
        app.include_router(router, include_in_schema=False)
