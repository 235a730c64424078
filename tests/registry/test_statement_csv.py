"""The statement as CSV: one row per figure, parsed back exactly."""

from __future__ import annotations

import csv
import io

from sqlalchemy.engine import Engine

from registry import balance, commands
from registry.statement_csv import COLUMNS, to_csv
from tests.builders import OPERATOR, world
from tests.registry.test_balance import GROSS, city_forest, inventory
from tests.registry.test_claims import claim, retired_for


def test_every_figure_is_a_row_with_its_evidence(engine: Engine) -> None:
    w = world(engine)
    base = inventory(w, year=1990, base_year=True, emissions=[{"sector": "transport", "scope": 1, "tonnes": 100_000}])
    city_forest(w)
    forest = w.issue(1_000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    removals = [
        {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1_000, "project": "forest"},
        {"method": "wetland-peatland-restoration", "durability": "permanent", "tonnes": 500},
    ]
    inv = inventory(w, emissions=[*GROSS, {"sector": "transport", "scope": 3, "notation": "NE"}], removals=removals)
    sold = forest.sub(forest.first, forest.first + 399)
    sale = w.submit(commands.sell(w.origin, "city-a", "buyer", str(sold), price=("1", "EUR")), "city-a").index
    perm = w.issue(30_000, year=2029, buffer=100)
    held = perm.sub(perm.first + 100, perm.last)  # the first 100 are the buffer pool
    r_perm = retired_for(w, held, "city-a")
    c_perm = claim(w, "city-a", r_perm, held)
    farm = w.issue(5_000, project="farm", year=2029)
    r_farm = retired_for(w, farm, "city-a")
    c_farm = claim(w, "city-a", r_farm, farm)
    avoided = retired_for(w, w.issue(300, project="avoid", year=2029), "city-a", holder="supplier-2")
    fire = w.submit(commands.cancel(w.origin, OPERATOR, "reversal", "wildfire", project="perm", quantity=50), OPERATOR)
    with w.engine.connect() as conn:
        result = balance.statement(conn, "city-a", 2029)

    text = to_csv(result)
    assert text.startswith("section,item,scope,tonnes,percent,code,message,evidence\r\n")
    assert text.count("\n") == text.count("\r\n")  # RFC 4180 §2: CRLF after every record
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert all(tuple(row) == COLUMNS for row in rows)

    def printed(indices: list[int]) -> str:
        return " ".join(map(str, sorted(set(indices))))

    def section(name: str, *columns: str) -> list[tuple[str, ...]]:
        return [tuple(row[c] for c in columns) for row in rows if row["section"] == name]

    inv_ = str(inv)  # evidence: log indices separated by spaces
    retired_evidence = result["terms"]["retired_credits"]["evidence"]
    assert section("total", "item", "tonnes", "evidence") == [
        ("gross_emissions", "129000", inv_),
        ("sold_credits", "400", f"{inv} {sale}"),
        ("in_boundary_removals", "1500", inv_),
        ("retired_credits", "34900", printed(retired_evidence)),
        ("positive", "129400", f"{inv} {sale}"),
        ("negative", "36400", printed([inv, *retired_evidence])),
        ("net", "93000", printed([inv, sale, *retired_evidence])),
    ]
    assert {c_perm, r_perm, c_farm, r_farm} <= set(retired_evidence)
    assert section("gross_emissions_by_sector", "item", "tonnes", "evidence") == [
        ("stationary-energy", "80000", inv_),
        ("transport", "40000", inv_),
        ("waste", "9000", inv_),
        ("ippu", "0", inv_),
        ("afolu", "0", inv_),
    ]
    assert section("gross_emissions_by_scope", "item", "scope", "tonnes") == [
        ("", "1", "90000"),
        ("", "2", "30000"),
        ("", "3", "9000"),
    ]
    assert section("in_boundary_removals_by_method", "item", "tonnes") == [
        ("afforestation-reforestation", "1000"),
        ("wetland-peatland-restoration", "500"),
    ]
    retired = section("retired_credits_by_project", "item", "tonnes", "evidence")
    assert [(item, tonnes) for item, tonnes, _ in retired] == [("farm", "5000"), ("perm", "29900")]
    assert {c_farm, r_farm} <= {int(i) for i in retired[0][2].split()}
    assert section("sold_credits_by_project", "item", "tonnes", "evidence") == [("forest", "400", f"{inv} {sale}")]
    assert section("share", "item", "tonnes", "percent", "message", "evidence") == [
        ("compensation_of_base_year", "36400", "36.40", "of 100000 t emitted in the base year 1990", str(base)),
        ("durable", "30400", "83.52", "of 36400 t of compensation", ""),
    ]
    assert section("warning", "code", "evidence") == [
        ("not-estimated", inv_),
        ("compensation-above-residual-cap", str(base)),
    ]
    assert section("exclusion", "code", "tonnes", "evidence") == [("not-a-removal", "300", str(avoided))]
    assert section("expiring", "item", "tonnes") == [("farm", "5000")]
    assert "expire on 2037-12-31" in rows[[r["section"] for r in rows].index("expiring")]["message"]
    reversal = section("reversal", "item", "tonnes", "evidence")
    assert [(item, tonnes) for item, tonnes, _ in reversal] == [("perm", "50")]
    assert reversal[0][2] == f"{c_perm} {fire.index}"
    assert len(rows) == 7 + 5 + 3 + 2 + 2 + 1 + 2 + 2 + 1 + 1 + 1
