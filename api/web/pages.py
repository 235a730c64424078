"""Every page router, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from api.web import cities, findings, home, projects, trace, verify

ROUTERS: list[APIRouter] = [home.router, projects.router, findings.router, verify.router, trace.router, cities.router]
