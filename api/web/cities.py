"""``/cities/{city}/{year}``: a city's net-emissions statement as ``GET /v1/cities/{city}/statement`` serves it.

The figures the JRC guidance asks a city to report (DESIGN.md §1: gross emissions, sold credits,
in-boundary removals, retired credits; positive, negative, net) and the shares, a chart of them
over every year the city has an inventory on record, the same numbers as a table, the warnings
and exclusions with their codes and evidence, and the statement to download as JSON or CSV.
Every statement is :func:`registry.balance.statement`'s, read in one transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.engine import Connection

from api.deps import NodeDep
from api.web import svg
from api.web.render import PageRoute, page
from registry import attestation, balance
from registry.schema import inventories
from registry.vocabulary import GpcSector

router = APIRouter(route_class=PageRoute)

Json = dict[str, Any]

SECTORS = {  # GPC sector: its name and colour (warm hues for emissions, each at least 3:1 against white)
    GpcSector.STATIONARY_ENERGY: ("Stationary energy", "#7f2704"),
    GpcSector.TRANSPORT: ("Transport", "#d94801"),
    GpcSector.WASTE: ("Waste", "#a6761d"),
    GpcSector.IPPU: ("Industrial processes and product use", "#c51b7d"),
    GpcSector.AFOLU: ("Agriculture, forestry and other land use", "#6b6b00"),
}
TERMS = (  # the statement's other quantities charted, by key
    svg.Series("sold_credits", "Sold credits", "#6a51a3"),
    svg.Series("in_boundary_removals", "In-boundary removals", "#1a7a3e"),
    svg.Series("retired_credits", "Retired credits", "#2b8cbe"),
    svg.Series("net", "Net emissions", "#1b1f24"),
)
SERIES = (*(svg.Series(sector.value, f"Gross: {name}", colour) for sector, (name, colour) in SECTORS.items()), *TERMS)


@router.get("/cities/{city}/{year}", response_class=HTMLResponse)
def city_statement(
    request: Request,
    node: NodeDep,
    city: Annotated[str, Path(max_length=64)],
    year: Annotated[int, Path(ge=1900, le=2200)],
) -> HTMLResponse:
    """The statement of ``city`` for ``year``, charted beside every other year it has an inventory for.

    Answers a 404 page if ``city`` is not a city account or has no inventory for ``year``.
    """
    # One transaction: the year's statement and the chart's other years reflect one committed state.
    with attestation.consistent_read(node.engine) as conn:
        shown = balance.statement(conn, city, year)
        years = [shown if y == year else balance.statement(conn, city, y) for y in years_on_record(conn, city)]
    return page(
        request,
        "city.html",
        f"{shown['city']['name']}: net emissions {year}",
        statement=shown,
        years=years,
        chart=chart(years),
        table=chart_table(years),
        json_url=f"/v1/cities/{city}/statement?year={year}&format=json",
        csv_url=f"/v1/cities/{city}/statement?year={year}&format=csv",
        signed_url=f"/v1/cities/{city}/statement/signed?year={year}",
    )


def years_on_record(conn: Connection, city: str) -> list[int]:
    """The years for which ``city`` has an inventory that counts (not superseded), in order."""
    query = (
        sa.select(inventories.c.year)
        .where(inventories.c.city == city, inventories.c.superseded_by.is_(None))
        .distinct()
        .order_by(inventories.c.year)
    )
    return [int(y) for y in conn.execute(query).scalars()]


def bars_of(statement: Json) -> svg.Group:
    """A year's three bars: positive (gross by sector, then sold credits), negative (removals, retired), net."""
    sectors = statement["terms"]["gross_emissions"]["by_sector"]
    positive = (*((sector.value, int(sectors[sector.value])) for sector in SECTORS), _term(statement, "sold_credits"))
    negative = (_term(statement, "in_boundary_removals"), _term(statement, "retired_credits"))
    return svg.Group(
        str(statement["year"]),
        (
            svg.Bar("positive", positive, "+"),
            svg.Bar("negative", negative, "−"),
            svg.Bar("net", (_term(statement, "net"),), "net"),
        ),
    )


def _term(statement: Json, key: str) -> tuple[str, int]:
    return key, int(statement[key])


def chart(years: list[Json]) -> Markup:
    """The statements of ``years`` as bars, one group a year."""
    shown = ", ".join(str(s["year"]) for s in years)
    return svg.bars(
        [bars_of(s) for s in years],
        SERIES,
        title="Positive, negative and net emissions by year (t CO2e)",
        desc=f"For each year on record ({shown}), three bars: positive emissions (+, gross emissions stacked by GPC "
        "sector, then sold credits), negative emissions (−, in-boundary removals, then retired credits) and net "
        "emissions. The table below gives the same numbers.",
    )


def chart_table(years: list[Json]) -> list[tuple[str, list[int]]]:
    """The chart's numbers as rows (a figure, then its value in each year) for the table beside it."""
    rows: list[tuple[str, list[int]]] = []
    for sector, (name, _) in SECTORS.items():
        rows.append(
            (f"Gross emissions: {name}", [int(s["terms"]["gross_emissions"]["by_sector"][sector]) for s in years])
        )
    named = {
        "gross_emissions": "Gross emissions",
        "sold_credits": "Sold credits",
        "positive": "Positive emissions",
        "in_boundary_removals": "In-boundary removals",
        "retired_credits": "Retired credits",
        "negative": "Negative emissions",
        "net": "Net emissions",
    }
    rows += [(name, [int(s[key]) for s in years]) for key, name in named.items()]
    return rows
