"""A city's net-emissions statement for a reporting year, computed from the state the log rebuilds.

The JRC guidance on negative emissions for cities (DESIGN.md §1) asks for four terms, each
reported separately and traceable:

- **positive** = gross emissions + sold credits, where sold credits are units from a removal
  the city counts in its inventory that were sold, or retired for anyone else (a credit the
  city sells cannot count toward its own balance);
- **negative** = in-boundary removals + retired removal credits the city claimed for the year;
- **net** = positive − negative.

Every figure carries the log indices it came from (``evidence``), and everything that was
*not* counted is listed with the reason (``exclusions``): retirements made for the city but not
claimed, units that are not removals, non-CRCF removals without a corresponding adjustment
(a contribution, not compensation), claims a later blocking finding touches. The compensation
share is measured against the base-year inventory and warned above the Cities Mission's ~20%
residual-emissions convention.

Tonnes are integers throughout (one unit = one tonne); shares are decimal strings rounded half
up to two places, computed in integers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from registry import inventories
from registry.errors import RecordNotFoundError
from registry.findings import Severity
from registry.schema import (
    accounts,
    batches,
    cancellations,
    claims,
    finding_units,
    findings,
    inventory_emissions,
    inventory_removals,
    movements,
    projects,
    registry_head,
    retirements,
)
from registry.schema import (
    inventories as inventory_table,
)
from registry.vocabulary import CancellationReason, GpcSector, Role, UnitType

STATEMENT_TYPE = "net-emissions-statement"
RESIDUAL_CAP_PERCENT = 20
"""EU Cities Mission planning convention: cut about 80%, compensate at most about 20% of base-year
emissions (../shared/data/cities/scenarios.md, "Published figures")."""
PERMANENT_YEARS = 100
"""Outside the CRCF, a removal with no expiry stored at least this long counts as durable."""


def statement(conn: Connection, city: str, year: int) -> dict[str, Any]:
    """The net-emissions statement of ``city`` for ``year``, as of the log entries the state reflects.

    Raises :class:`RecordNotFoundError` if ``city`` is not a city account or has no inventory
    for ``year``. Deterministic: the same state gives the same statement, key for key.
    """
    account = conn.execute(sa.select(accounts).where(accounts.c.id == city)).one_or_none()
    if account is None or account.role != Role.CITY:
        raise RecordNotFoundError(f"no city account {city!r}", "city")
    inventory = inventories.current_inventory(conn, city, year)
    if inventory is None:
        raise RecordNotFoundError(f"{city!r} has no inventory for {year}", "inventory")
    book = _Book()
    place = _place(conn, account, inventory)
    gross = _gross(conn, inventory, book)
    removals = _removals(conn, inventory)
    retired = _retired_credits(conn, city, year, book)
    _counted_unlinked(place, removals, retired, book)
    sold = _sold_credits(conn, account, inventory, place, book)
    _unclaimed_retirements(conn, city, inventory, place, book)
    positive, negative = gross["tonnes"] + sold["tonnes"], removals["tonnes"] + retired["tonnes"]
    shares = _shares(conn, city, year, negative, removals, retired, book)
    applied = conn.execute(sa.select(registry_head.c.applied)).scalar_one()
    terms = {
        "gross_emissions": gross,
        "sold_credits": sold,
        "in_boundary_removals": removals,
        "retired_credits": retired,
    }
    return {
        "type": STATEMENT_TYPE,
        "city": {
            "id": account.id,
            "name": account.name,
            "country": account.country,
            "subdivision": account.subdivision,
            "municipality": account.municipality,
        },
        "year": year,
        "period": {"start": inventory.period_start.isoformat(), "end": inventory.period_end.isoformat()},
        "log_size": int(applied),
        "unit": "t CO2e",
        "gwp": inventory.gwp,
        "gross_emissions": gross["tonnes"],
        "sold_credits": sold["tonnes"],
        "in_boundary_removals": removals["tonnes"],
        "retired_credits": retired["tonnes"],
        "positive": positive,
        "negative": negative,
        "net": positive - negative,
        "terms": terms,
        "shares": shares,
        "diversification": _diversification(account.country, removals, retired),
        "expiring": book.expiring,
        "reversals": book.reversals,
        "warnings": book.warnings,
        "exclusions": book.exclusions,
        "evidence": sorted(
            {i for term in terms.values() for i in term["evidence"]}
            | {i for entry in book.exclusions + book.warnings for i in entry["evidence"]}
            | {i for entry in book.reversals for i in entry["evidence"]}
            | set(shares["compensation_of_base_year"]["evidence"])
        ),
    }


@dataclass
class _Book:
    """What the statement notes besides the figures: warnings, exclusions, expiring and reversed units."""

    warnings: list[dict[str, Any]] = field(default_factory=list)
    exclusions: list[dict[str, Any]] = field(default_factory=list)
    expiring: list[dict[str, Any]] = field(default_factory=list)
    reversals: list[dict[str, Any]] = field(default_factory=list)

    def warn(self, code: str, message: str, evidence: Iterable[int]) -> None:
        self.warnings.append({"code": code, "message": message, "evidence": sorted(set(evidence))})

    def exclude(self, code: str, tonnes: int, message: str, evidence: Iterable[int]) -> None:
        self.exclusions.append({"code": code, "tonnes": tonnes, "message": message, "evidence": sorted(set(evidence))})


# --- positive side -------------------------------------------------------------------------------


def _gross(conn: Connection, inventory: Row[Any], book: _Book) -> dict[str, Any]:
    """Gross emissions: every line of the inventory with tonnes, by GPC sector and scope."""
    rows = conn.execute(
        sa.select(inventory_emissions)
        .where(inventory_emissions.c.idx == inventory.idx)
        .order_by(inventory_emissions.c.line)
    ).all()
    by_sector = {sector.value: 0 for sector in GpcSector}
    by_scope = {"1": 0, "2": 0, "3": 0}
    lines = []
    for row in rows:
        line: dict[str, Any] = {"sector": row.sector, "scope": row.scope}
        if row.subsector is not None:
            line["subsector"] = row.subsector
        if row.tonnes is not None:
            line["tonnes"] = int(row.tonnes)
            by_sector[row.sector] += row.tonnes
            by_scope[str(row.scope)] += row.tonnes
        else:
            line["notation"] = row.notation
            if row.notation == "NE":  # GPC notation key "not estimated": the total may be understated
                what = row.sector + (f" ({row.subsector})" if row.subsector else "")
                book.warn(
                    "not-estimated",
                    f"the inventory marks {what} scope {row.scope} as not estimated (NE): "
                    "gross emissions leave it out and may be understated",
                    [inventory.idx],
                )
        lines.append(line)
    return {
        "tonnes": sum(by_sector.values()),
        "by_sector": by_sector,
        "by_scope": by_scope,
        "lines": lines,
        "evidence": [inventory.idx],
    }


@dataclass(frozen=True)
class _Place:
    """The projects inside the city's boundary, and those its inventory links a removal line to."""

    inside: frozenset[str]
    linked: frozenset[str]


def _place(conn: Connection, city: Row[Any], inventory: Row[Any]) -> _Place:
    linked = conn.execute(
        sa.select(inventory_removals.c.project).where(
            inventory_removals.c.idx == inventory.idx, inventory_removals.c.project.is_not(None)
        )
    ).scalars()
    inside = conn.execute(
        sa.select(projects.c.id).where(projects.c.country == city.country, projects.c.municipality == city.municipality)
    ).scalars()
    return _Place(frozenset(inside), frozenset(linked))


def _sold_credits(conn: Connection, city: Row[Any], inventory: Row[Any], place: _Place, book: _Book) -> dict[str, Any]:
    """Units of removals inside the city's boundary, of the reporting year's vintage, that were
    sold or retired for anyone else. Counted where the inventory counts that removal (a linked
    line): the city may instead stop counting it, and then nothing is added."""
    linked, inside = place.linked, place.inside
    counted: list[dict[str, Any]] = []
    for project in sorted(linked | inside):
        tonnes, evidence = _left_city(conn, project, city.id, inventory.year)
        if not tonnes:
            continue
        if project in linked:
            counted.append({"project": project, "tonnes": tonnes, "evidence": sorted({*evidence, inventory.idx})})
        else:
            book.warn(
                "sold-removal-not-counted",
                f"{tonnes} t of credits from {project!r}, inside the city's boundary, were sold or retired for "
                "others; the inventory links no removal line to it, so they are not added: if the inventory "
                "counts this removal, link the line to the project",
                evidence,
            )
    return {
        "tonnes": sum(item["tonnes"] for item in counted),
        "projects": counted,
        "evidence": sorted({i for item in counted for i in item["evidence"]}),
    }


def _counted_unlinked(place: _Place, removals: dict[str, Any], retired: dict[str, Any], book: _Book) -> None:
    """Warn where the city claims credits of a project inside its boundary while its inventory
    counts, without naming a project, a removal of the same method: possibly the same tonne twice
    (a linked line would have refused the claim: registry.claims)."""
    unlinked = {line["method"] for line in removals["lines"] if "project" not in line}
    for credit in retired["projects"]:
        if credit["project"] in place.inside and credit["method"] in unlinked:
            book.warn(
                "possibly-counted-twice",
                f"the city claims {credit['tonnes']} t of {credit['project']!r}, a project inside its boundary, "
                f"and its inventory counts {credit['method']} removals without linking them to a project: if "
                "they are the same removal, link the line (the claim will then be refused) or drop it",
                [*credit["evidence"], *removals["evidence"]],
            )


def _left_city(conn: Connection, project: str, city: str, year: int) -> tuple[int, list[int]]:
    """Units of ``project``'s batches of vintage ``year`` that were ever sold (to anyone but
    ``city``), or retired for someone other than ``city``; each unit once, however often it moved.

    A batch belongs to the reporting year of its vintage, so a batch monitored over several
    years is added to one statement, not to each year it overlaps.
    """
    rows = conn.execute(
        sa.select(
            movements.c.idx,
            movements.c.kind,
            movements.c.batch,
            movements.c.first,
            movements.c.last,
            movements.c.receiver,
        )
        .join(batches, batches.c.number == movements.c.batch)
        .where(
            batches.c.project == project,
            batches.c.vintage == year,
            movements.c.kind.in_(("sale", "retirement")),
        )
        .order_by(movements.c.batch, movements.c.first)
    ).all()
    ranges: dict[int, list[tuple[int, int]]] = defaultdict(list)
    evidence: set[int] = set()
    for row in rows:
        if row.receiver == city:  # bought by the city, or retired for it: not sold away
            continue
        ranges[row.batch].append((row.first, row.last))
        evidence.add(row.idx)
    return sum(_union(spans) for spans in ranges.values()), sorted(evidence)


def _union(spans: list[tuple[int, int]]) -> int:
    """How many integers the closed ranges ``spans`` (sorted by start) cover together."""
    total, reach = 0, -1
    for first, last in spans:
        if last > reach:
            total += last - max(first, reach + 1) + 1
            reach = last
    return total


# --- negative side -------------------------------------------------------------------------------


def _removals(conn: Connection, inventory: Row[Any]) -> dict[str, Any]:
    """In-boundary removals: the inventory's removal lines, by method and durability."""
    rows = conn.execute(
        sa.select(inventory_removals)
        .where(inventory_removals.c.idx == inventory.idx)
        .order_by(inventory_removals.c.line)
    ).all()
    by_method: dict[str, int] = defaultdict(int)
    by_durability = {"permanent": 0, "temporary": 0}
    lines = []
    for row in rows:
        by_method[row.method] += row.tonnes
        by_durability[row.durability] += row.tonnes
        line = {"method": row.method, "durability": row.durability, "tonnes": int(row.tonnes)}
        if row.project is not None:
            line["project"] = row.project
        if row.description is not None:
            line["description"] = row.description
        lines.append(line)
    return {
        "tonnes": sum(by_durability.values()),
        "by_method": dict(sorted(by_method.items())),
        "by_durability": by_durability,
        "lines": lines,
        "evidence": [inventory.idx] if rows else [],
    }


@dataclass
class _Credit:
    """Claimed units of one project counted toward the balance."""

    project: str
    method: str
    country: str
    unit_type: str
    durable: bool
    tonnes: int = 0
    claims: list[int] = field(default_factory=list)
    evidence: set[int] = field(default_factory=set)


@dataclass
class _Batch:
    """The city's claims for the year on one serial batch: the unit of classification."""

    tonnes: int = 0
    claims: list[int] = field(default_factory=list)
    retirements: set[int] = field(default_factory=set)


def _retired_credits(conn: Connection, city: str, year: int, book: _Book) -> dict[str, Any]:
    """Retired removal credits the city claimed for ``year`` that count: CRCF removal units, and
    non-CRCF removals the host country adjusts for; the rest is listed as excluded.

    The claims are read alone and summed per batch; each batch's facts (project, unit type,
    expiry, adjustment) are read once, not once per claim.
    """
    where = (claims.c.city == city, claims.c.year == year)
    rows = conn.execute(
        sa.select(claims.c.idx, claims.c.retirement, claims.c.batch, claims.c.first, claims.c.last)
        .where(*where)
        .order_by(claims.c.idx)
    ).all()
    facts = {
        row.number: row
        for row in conn.execute(
            sa.select(
                batches.c.number,
                batches.c.project,
                batches.c.expires,
                batches.c.durability_years,
                batches.c.corresponding_adjustment,
                batches.c.issued_at,
                projects.c.method,
                projects.c.country,
                projects.c.unit_type,
                projects.c.registered_at,
            )
            .join(projects, projects.c.id == batches.c.project)
            .where(batches.c.number.in_(sa.select(claims.c.batch).where(*where).distinct().scalar_subquery()))
        )
    }
    blocked = _blocked(conn, city, year)
    claimed: dict[int, _Batch] = {}
    for idx, retirement, number, first, last in rows:
        if idx in blocked:
            fact = facts[number]
            tonnes = last - first + 1
            kinds = ", ".join(sorted(blocked[idx][0]))
            book.exclude(
                "blocked-by-findings",
                tonnes,
                f"the claim at log index {idx} ({tonnes} t of {fact.project!r}) is touched by a later blocking "
                f"finding ({kinds}): not counted until it is resolved",
                (idx, retirement, fact.issued_at, fact.registered_at, *blocked[idx][1]),
            )
            continue
        part = claimed.get(number)
        if part is None:
            part = claimed[number] = _Batch()
        part.tonnes += last - first + 1
        part.claims.append(idx)
        part.retirements.add(retirement)
    credits: dict[str, _Credit] = {}
    expiring: dict[tuple[str, str], dict[str, Any]] = {}
    contribution: dict[str, list[int]] = defaultdict(list)
    contribution_tonnes: dict[str, int] = defaultdict(int)
    contribution_claims: dict[str, list[int]] = {}
    for number, part in sorted(claimed.items()):
        fact = facts[number]
        evidence = {*part.claims, *part.retirements, fact.issued_at, fact.registered_at}
        unit_type = UnitType(fact.unit_type)
        if not unit_type.is_crcf and not fact.corresponding_adjustment:
            # Paris Agreement Art. 6: without a corresponding adjustment the host country counts
            # the same removal in its own inventory, so the city may claim only a contribution.
            contribution[fact.project].extend(evidence)
            contribution_claims.setdefault(fact.project, []).extend(part.claims)
            contribution_tonnes[fact.project] += part.tonnes
            continue
        durable = unit_type == UnitType.PERMANENT_REMOVAL or (
            not unit_type.is_crcf and fact.expires is None and fact.durability_years >= PERMANENT_YEARS
        )
        credit = credits.get(fact.project)
        if credit is None:
            credit = credits[fact.project] = _Credit(fact.project, fact.method, fact.country, fact.unit_type, durable)
        credit.tonnes += part.tonnes
        credit.claims.extend(part.claims)
        credit.evidence |= evidence
        if fact.expires is not None:
            key = (fact.project, fact.expires.isoformat())
            item = expiring.setdefault(
                key, {"project": fact.project, "expires": fact.expires.isoformat(), "tonnes": 0, "evidence": set()}
            )
            item["tonnes"] += part.tonnes
            item["evidence"] |= evidence
    for credit in credits.values():
        credit.claims.sort()
    for project, tonnes in sorted(contribution_tonnes.items()):
        book.exclude(
            "contribution-only",
            tonnes,
            f"{tonnes} t of {project!r} are not CRCF units and the host country made no corresponding "
            "adjustment: the claim may only be worded as a contribution, not counted as compensation",
            contribution[project],
        )
    for item in sorted(expiring.values(), key=lambda item: (item["project"], item["expires"])):
        book.expiring.append(
            {
                "project": item["project"],
                "tonnes": item["tonnes"],
                "expires": item["expires"],
                "message": f"{item['tonnes']} t of {item['project']!r} are temporary and expire on {item['expires']}: "
                "to keep this compensation, replace them by then",
                "evidence": sorted(item["evidence"]),
            }
        )
    not_crcf = [c for c in credits.values() if not UnitType(c.unit_type).is_crcf]
    for credit in not_crcf:
        book.warn(
            "not-crcf",
            f"{credit.tonnes} t of {credit.project!r} are removals certified outside the CRCF (with a corresponding "
            "adjustment): counted, but they do not meet the EU CRCF quality criteria",
            credit.evidence,
        )
    _reversals(conn, {c.project: c.claims for c in credits.values()} | contribution_claims, book)
    listed = [
        {
            "project": c.project,
            "method": c.method,
            "country": c.country,
            "unit_type": c.unit_type,
            "durable": c.durable,
            "tonnes": c.tonnes,
            "claims": c.claims,
            "evidence": sorted(c.evidence),
        }
        for c in sorted(credits.values(), key=lambda c: c.project)
    ]
    return {
        "tonnes": sum(c["tonnes"] for c in listed),
        "projects": listed,
        "evidence": sorted({i for c in credits.values() for i in c.evidence}),
    }


def _blocked(conn: Connection, city: str, year: int) -> dict[int, tuple[set[str], set[int]]]:
    """The city's claims for ``year`` that a blocking finding touches: claim → (kinds, finding indices)."""
    rows = conn.execute(
        sa.select(claims.c.idx.label("claim"), findings.c.kind, findings.c.idx)
        .join(
            finding_units,
            sa.and_(
                finding_units.c.batch == claims.c.batch,
                finding_units.c.first <= claims.c.last,
                finding_units.c.last >= claims.c.first,
            ),
        )
        .join(findings, sa.and_(findings.c.idx == finding_units.c.idx, findings.c.seq == finding_units.c.seq))
        .where(claims.c.city == city, claims.c.year == year, findings.c.severity == Severity.BLOCKING.value)
    ).all()
    found: dict[int, tuple[set[str], set[int]]] = {}
    for row in rows:
        kinds, indices = found.setdefault(row.claim, (set(), set()))
        kinds.add(row.kind)
        indices.add(row.idx)
    return found


def _reversals(conn: Connection, claimed: dict[str, list[int]], book: _Book) -> None:
    """Reversals of the projects the city claimed units of, and how each was made good.

    Claimed units are retired, and a retirement is irreversible: a reversal is drawn from the
    project's buffer pool, then from units still held (registry.cancellations). What it leaves
    for the city to replace is therefore nothing — but the statement says so, with evidence.
    """
    if not claimed:
        return
    rows = conn.execute(
        sa.select(cancellations)
        .where(
            cancellations.c.project.in_(sorted(claimed)), cancellations.c.reason == CancellationReason.REVERSAL.value
        )
        .order_by(cancellations.c.idx)
    ).all()
    for row in rows:
        held = row.quantity - row.from_buffer
        book.reversals.append(
            {
                "project": row.project,
                "tonnes": int(row.quantity),
                "from_buffer": int(row.from_buffer),
                "from_holders": int(held),
                "to_replace": 0,
                "message": f"{row.quantity} t of {row.project!r} were reversed ({row.note}); made good from the "
                f"buffer pool ({row.from_buffer} t)"
                + (f" and from units still held ({held} t)" if held else "")
                + ": the city's claimed units stand",
                "evidence": sorted({row.idx, *claimed[row.project]}),
            }
        )


def _unclaimed_retirements(conn: Connection, city: str, inventory: Row[Any], place: _Place, book: _Book) -> None:
    """Units retired for the city for a period overlapping the reporting period that no claim
    took, each with the reason a claim would give (or ``not-claimed`` when it would count).

    The claimed tonnes are summed per retirement in the database, and only retirements with
    units left come back.
    """
    start, end, year = inventory.period_start, inventory.period_end, inventory.year
    taken = (
        sa.select(claims.c.retirement, sa.func.sum(claims.c.last - claims.c.first + 1).label("tonnes"))
        .where(claims.c.city == city)
        .group_by(claims.c.retirement)
        .subquery()
    )
    quantity = retirements.c.last - retirements.c.first + 1
    rows = conn.execute(
        sa.select(
            retirements.c.idx,
            (quantity - sa.func.coalesce(taken.c.tonnes, 0)).label("left"),
            batches.c.project,
            batches.c.expires,
            batches.c.corresponding_adjustment,
            projects.c.unit_type,
        )
        .join(batches, batches.c.number == retirements.c.batch)
        .join(projects, projects.c.id == batches.c.project)
        .outerjoin(taken, taken.c.retirement == retirements.c.idx)
        .where(
            retirements.c.beneficiary_account == city,
            retirements.c.period_start <= end,
            retirements.c.period_end >= start,
            sa.func.coalesce(taken.c.tonnes, 0) < quantity,
        )
        .order_by(retirements.c.idx)
    ).all()
    for row in rows:
        left = int(row.left)  # PostgreSQL sums into a numeric
        unit_type = UnitType(row.unit_type)
        what = f"{left} t of {row.project!r} retired for the city at log index {row.idx}"
        if not unit_type.is_removal:
            book.exclude(
                "not-a-removal",
                left,
                f"{what} are {unit_type} units: valid under their own certification, but only removals "
                "compensate (JRC guidance), so they count zero",
                [row.idx],
            )
        elif row.expires is not None and row.expires < end:
            book.exclude("units-expired", left, f"{what} expired on {row.expires}, before {year} ended", [row.idx])
        elif row.project in place.linked:
            book.exclude(
                "counted-in-inventory",
                left,
                f"{what} were issued for a removal the city's inventory already counts: a claim would count "
                "the tonne twice and is refused",
                [row.idx, inventory.idx],
            )
        elif not unit_type.is_crcf and not row.corresponding_adjustment:
            book.exclude(
                "contribution-only",
                left,
                f"{what} are not CRCF units and the host country made no corresponding adjustment: "
                "a contribution, not compensation, claimed or not",
                [row.idx],
            )
        else:
            book.exclude("not-claimed", left, f"{what} are not claimed for {year}: a claim would count them", [row.idx])


# --- shares --------------------------------------------------------------------------------------


def _shares(  # noqa: PLR0917  # private: the parts of one statement
    conn: Connection,
    city: str,
    year: int,
    negative: int,
    removals: dict[str, Any],
    retired: dict[str, Any],
    book: _Book,
) -> dict[str, Any]:
    """Compensation against base-year emissions (warned above the residual cap) and the durable share."""
    base = conn.execute(
        sa.select(inventory_table.c.idx, inventory_table.c.year)
        .where(
            inventory_table.c.city == city,
            inventory_table.c.base_year.is_(True),
            inventory_table.c.year <= year,
            inventory_table.c.superseded_by.is_(None),
        )
        .order_by(inventory_table.c.year.desc())
        .limit(1)
    ).one_or_none()
    compensation: dict[str, Any] = {"tonnes": negative, "percent": None, "base_year": None, "of": None, "evidence": []}
    if base is None:
        book.warn("no-base-year", f"the city has no base-year inventory up to {year}: no compensation share", [])
    else:
        total = int(  # PostgreSQL sums into a numeric
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(inventory_emissions.c.tonnes), 0)).where(
                    inventory_emissions.c.idx == base.idx
                )
            ).scalar_one()
        )
        compensation.update(base_year=base.year, of=int(total), evidence=[base.idx])
        if total:
            compensation["percent"] = percent(negative, total)
            cap = (total * RESIDUAL_CAP_PERCENT + 50) // 100
            if negative * 100 > total * RESIDUAL_CAP_PERCENT:
                book.warn(
                    "compensation-above-residual-cap",
                    f"compensation of {negative} t is {compensation['percent']}% of {base.year} emissions "
                    f"({total} t), above the ~{RESIDUAL_CAP_PERCENT}% residual-emissions convention ({cap} t): "
                    "reduce emissions first",
                    [base.idx],
                )
    durable_credits = [c for c in retired["projects"] if c["durable"]]
    durable = removals["by_durability"]["permanent"] + sum(c["tonnes"] for c in durable_credits)
    evidence = set(removals["evidence"] if removals["by_durability"]["permanent"] else [])
    evidence.update(i for c in durable_credits for i in c["evidence"])
    return {
        "compensation_of_base_year": compensation,
        "durable": {
            "tonnes": durable,
            "of": negative,
            "percent": percent(durable, negative) if negative else None,
            "evidence": sorted(evidence),
        },
    }


def _diversification(country: str, removals: dict[str, Any], retired: dict[str, Any]) -> dict[str, Any]:
    """The negative side by removal method and by country (in-boundary removals are the city's own)."""
    by_method: dict[str, list[Any]] = defaultdict(lambda: [0, set()])
    by_country: dict[str, list[Any]] = defaultdict(lambda: [0, set()])
    parts = [(method, country, tonnes, removals["evidence"]) for method, tonnes in removals["by_method"].items()]
    parts += [(c["method"], c["country"], c["tonnes"], c["evidence"]) for c in retired["projects"]]
    for method, where, tonnes, evidence in parts:
        for counts, name in ((by_method, method), (by_country, where)):
            counts[name][0] += tonnes
            counts[name][1].update(evidence)
    total = sum(tonnes for tonnes, _ in by_method.values())

    def listed(counts: dict[str, list[Any]], key: str) -> list[dict[str, Any]]:
        ordered = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))
        return [
            {key: name, "tonnes": tonnes, "percent": percent(tonnes, total), "evidence": sorted(evidence)}
            for name, (tonnes, evidence) in ordered
        ]

    return {"by_method": listed(by_method, "method"), "by_country": listed(by_country, "country")}


def percent(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``, rounded half up to two decimals: ``percent(1, 3) == "33.33"``."""
    hundredths = (part * 20_000 + whole) // (2 * whole)
    return f"{hundredths // 100}.{hundredths % 100:02d}"
