"""The demo registry: realistic parties and the life of their credits, as signed events.

Removal suppliers (biochar in Finland, DACCS in Iceland, BECCS in Sweden, peatland
restoration in Estonia, afforestation in Colombia, Espoo's municipal forest), a wind
developer selling avoidance credits, verifiers, the five cities of
``shared/data/cities/scenarios.md`` and two corporate buyers. Every party's key is saved in
``DIR/keys`` so that a person can carry on from a shell with the CLI's event verbs.

Names of companies are constructed; city jurisdictions are real (ISO 3166-2 subdivisions and
national municipality codes: Statistics Finland, DANE DIVIPOLA, ABS LGA codes). Quantities
follow the scenarios file: Turku 2029 retires 60,000 t of permanent removals and 29,000 t of
carbon farming units expiring in 2036; Helsinki retires 1,200,000 t for 2030; Bogotá retires
Colombian nature-based removals for 2022; Melbourne retires 51,030 t of avoidance credits for
FY2013-14; Espoo sells 10,000 t from its own forest to a company. The cities then log their
inventories and claim what they may (registry.demo_cities), so that each city's
net-emissions statement shows its scenario.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.keys import SignerKey
from registry import commands, demo_cities, queries
from registry.datadir import DEFAULT_ORIGIN, DataDir
from registry.node import Node, initialise_registry
from registry.serials import SerialRange

OPERATOR = "operator"

# account id → (role, name, jurisdiction: (country, subdivision, municipality) for cities)
ACCOUNTS: dict[str, tuple[str, str, tuple[str, str, str] | None]] = {
    "verifier-nordic": ("verifier", "Nordic Carbon Verification Oy (constructed)", None),
    "verifier-andes": ("verifier", "Verificadora Andina S.A.S. (constructed)", None),
    "biochar-fi": ("supplier", "Varsinais-Suomi Biochar Oy (constructed)", None),
    "daccs-is": ("supplier", "Hengill Direct Air Capture hf. (constructed)", None),
    "beccs-se": ("supplier", "Mälaren Bioenergy CCS AB (constructed)", None),
    "peatland-ee": ("supplier", "Soomaa Peatland Restoration OÜ (constructed)", None),
    "forest-co": ("supplier", "Reforestación Orinoquía S.A.S. (constructed)", None),
    "wind-in": ("supplier", "Deccan Wind Power Ltd (constructed)", None),
    "turku": ("city", "City of Turku", ("FI", "FI-19", "853")),
    "helsinki": ("city", "City of Helsinki", ("FI", "FI-18", "091")),
    "espoo": ("city", "City of Espoo", ("FI", "FI-18", "049")),
    "bogota": ("city", "Bogotá, Distrito Capital", ("CO", "CO-DC", "11001")),
    "melbourne": ("city", "City of Melbourne (council operations)", ("AU", "AU-VIC", "24600")),
    "steel-buyer": ("buyer", "Pohjola Steel Oyj (constructed)", None),
    "software-buyer": ("buyer", "Baltic Software AB (constructed)", None),
    "auditor-one": ("auditor", "Independent Climate Audit (constructed)", None),
}

# project id → (supplier, name, method, unit type, location, methodology, scheme, external ids)
PROJECTS: dict[str, tuple[str, str, str, str, dict[str, str], str, str, list[str]]] = {
    "fi-biochar-1": (
        "biochar-fi",
        "Biochar from forest residues, Salo",
        "biochar",
        "permanent-removal",
        {"country": "FI", "subdivision": "FI-19", "municipality": "734", "latitude": "60.3833", "longitude": "23.1250"},
        "CRCF certification methodology for biochar carbon removal",
        "CRCF (Regulation (EU) 2024/3012)",
        [],
    ),
    "is-daccs-1": (
        "daccs-is",
        "Direct air capture with basalt mineralisation, Hengill",
        "daccs",
        "permanent-removal",
        {"country": "IS", "subdivision": "IS-1", "latitude": "64.0370", "longitude": "-21.4000"},
        "CRCF certification methodology for DACCS",
        "CRCF (Regulation (EU) 2024/3012)",
        [],
    ),
    "se-beccs-1": (
        "beccs-se",
        "Bioenergy with carbon capture and storage, Mälaren",
        "beccs",
        "permanent-removal",
        {"country": "SE", "subdivision": "SE-AB", "latitude": "59.3500", "longitude": "18.1000"},
        "CRCF certification methodology for BioCCS",
        "CRCF (Regulation (EU) 2024/3012)",
        [],
    ),
    "ee-peatland-1": (
        "peatland-ee",
        "Rewetting of drained peatland, Soomaa",
        "wetland-peatland-restoration",
        "carbon-farming-sequestration",
        {"country": "EE", "subdivision": "EE-84", "latitude": "58.4300", "longitude": "25.0300"},
        "CRCF carbon farming methodology for peatland rewetting",
        "CRCF (Regulation (EU) 2024/3012)",
        [],
    ),
    "co-forest-1": (
        "forest-co",
        "Native forest restoration, Orinoquía",
        "afforestation-reforestation",
        "removal",
        {"country": "CO", "subdivision": "CO-MET", "latitude": "4.1500", "longitude": "-73.6300"},
        "VM0047 Afforestation, Reforestation and Revegetation",
        "Verified Carbon Standard",
        [],
    ),
    "in-wind-1": (
        "wind-in",
        "Grid-connected wind farm, Maharashtra",
        "renewable-energy",
        "avoidance",
        {"country": "IN", "subdivision": "IN-MH"},
        "ACM0002 Grid-connected electricity generation from renewable sources",
        "Clean Development Mechanism",
        [],
    ),
    "espoo-forest-1": (
        "espoo",
        "Espoo municipal forest, continuous-cover management",
        "afforestation-reforestation",
        "carbon-farming-sequestration",
        {"country": "FI", "subdivision": "FI-18", "municipality": "049", "latitude": "60.2055", "longitude": "24.6559"},
        "CRCF carbon farming methodology for forest management",
        "CRCF (Regulation (EU) 2024/3012)",
        [],
    ),
}


@dataclass
class DemoBatch:
    """A batch the demo issued, and the first unit it has not yet sold."""

    serial: SerialRange
    unsold: int


@dataclass
class DemoBuilder:
    """Signs and submits the demo's events, remembering each batch's serial range."""

    node: Node
    keys: dict[str, SignerKey]
    progress: Callable[[int], None] | None = None
    batches: dict[str, DemoBatch] = field(default_factory=dict)
    submitted: int = 0

    @property
    def origin(self) -> str:
        return self.node.origin

    def submit(self, command: dict[str, Any], *signers: str) -> int:
        """Sign ``command`` by the named accounts and submit it; return its log index."""
        applied = self.node.registry.submit(commands.sign(command, [self.keys[s] for s in signers]))
        self.submitted += 1
        if self.progress is not None:
            self.progress(self.submitted)
        return applied.index

    def issue(self, label: str, project: str, verifier: str, year: int, quantity: int, **options: Any) -> None:
        """Issue a batch of ``project`` for ``year``, co-signed by ``verifier``."""
        supplier = PROJECTS[project][0]
        command = commands.issue(
            self.origin,
            project=project,
            supplier=supplier,
            verifier=verifier,
            monitoring_period=(f"{year}-01-01", f"{year}-12-31"),
            vintage=year,
            quantity=quantity,
            report_sha256=hashlib.sha256(f"verification report {label}".encode()).hexdigest(),
            durability_years=1000 if options.get("expires") is None else 40,
            **options,
        )
        index = self.submit(command, supplier, verifier)
        with self.node.engine.connect() as conn:
            serial = queries.batch_issued_at(conn, index)
        self.batches[label] = DemoBatch(serial, serial.first + options.get("buffer", 0))

    def take(self, label: str, quantity: int) -> SerialRange:
        """The next ``quantity`` unsold units of batch ``label`` (its buffer is never sold)."""
        batch = self.batches[label]
        serial = batch.serial.sub(batch.unsold, batch.unsold + quantity - 1)
        batch.unsold += quantity
        return serial


def build_demo(
    root: Path,
    *,
    origin: str = DEFAULT_ORIGIN,
    database_url: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Node:
    """Create a registry in ``root`` and fill it with the demo's parties and events.

    Returns the open node; raises :class:`registry.datadir.DataDirError` if ``root``
    already holds a registry.
    """
    node, operator_key = initialise_registry(root, origin=origin, operator=OPERATOR, database_url=database_url)
    data_dir = DataDir(root)
    keys = {OPERATOR: operator_key}
    demo = DemoBuilder(node, keys, progress)
    for account, (role, name, place) in ACCOUNTS.items():
        keys[account] = SignerKey.generate(account)
        data_dir.save_key(keys[account])
        extra: dict[str, Any] = {}
        if place is not None:
            country, subdivision, municipality = place
            extra["jurisdiction"] = {"country": country, "subdivision": subdivision, "municipality": municipality}
            boundary = hashlib.sha256(f"boundary of {name}".encode()).hexdigest()
            extra["boundary"] = {"geojson_sha256": boundary, "description": f"Administrative boundary of {name}"}
        command = commands.open_account(
            origin,
            operator=OPERATOR,
            account=account,
            role=role,
            name=name,
            keys=[commands.public_key(keys[account])],
            **extra,
        )
        demo.submit(command, OPERATOR)
    for project, (supplier, name, method, unit_type, location, methodology, scheme, ids) in PROJECTS.items():
        command = commands.register_project(
            origin,
            project=project,
            supplier=supplier,
            name=name,
            method=method,
            unit_type=unit_type,
            location=location,
            methodology=methodology,
            scheme=scheme,
            external_ids=ids,
        )
        demo.submit(command, supplier)
    retired = _credit_lives(demo)
    for command, signer in demo_cities.city_events(origin, retired):
        demo.submit(command, signer)
    return node


def _credit_lives(demo: DemoBuilder) -> dict[str, list[tuple[int, SerialRange]]]:
    """Issuances, sales, transfers, retirements and a reversal, in the order they would happen.

    Returns the retirements made for each city: (log index, units), in log order.
    """
    o = demo.origin
    batches = (
        # label, project, verifier, vintage, quantity, buffer, expiry
        ("biochar-2028", "fi-biochar-1", "verifier-nordic", 2028, 30_000, 0, None),
        ("beccs-2028", "se-beccs-1", "verifier-nordic", 2028, 400_000, 0, None),
        ("daccs-2029", "is-daccs-1", "verifier-nordic", 2029, 900_000, 0, None),
        ("peatland-2028", "ee-peatland-1", "verifier-nordic", 2028, 40_000, 4_000, "2036-12-31"),
        ("forest-co-2021", "co-forest-1", "verifier-andes", 2021, 150_000, 15_000, None),
        ("wind-2013", "in-wind-1", "verifier-andes", 2013, 60_000, 0, None),
        ("espoo-2028", "espoo-forest-1", "verifier-nordic", 2028, 12_000, 2_000, "2040-12-31"),
    )
    for label, project, verifier, year, quantity, buffer, expires in batches:
        demo.issue(label, project, verifier, year, quantity, buffer=buffer, expires=expires)

    def sale(label: str, quantity: int, buyer: str, price: str | None, currency: str = "EUR") -> SerialRange:
        serial = demo.take(label, quantity)
        seller = PROJECTS[serial.project][0]
        if price is None:  # confidential terms: a salted commitment (events.Sold.terms_sha256)
            terms = hashlib.sha256(f"terms of {label} to {buyer}".encode()).hexdigest()
            demo.submit(commands.sell(o, seller, buyer, str(serial), terms_sha256=terms), seller)
        else:
            demo.submit(commands.sell(o, seller, buyer, str(serial), price=(price, currency)), seller)
        return serial

    retired: dict[str, list[tuple[int, SerialRange]]] = {}

    def retire(serial: SerialRange, holder: str, city: str | None, jurisdiction: str, **period: Any) -> None:
        purpose = "compensation of residual emissions" if city else "voluntary contribution"
        command = commands.retire(
            o,
            holder,
            str(serial),
            purpose,
            jurisdiction,
            beneficiary_account=city,
            beneficiary_name=None if city else ACCOUNTS[holder][1],
            **period,
        )
        index = demo.submit(command, holder)
        if city is not None:
            retired.setdefault(city, []).append((index, serial))

    # Turku 2029: 60,000 t of permanent removals (BECCS and biochar) and 29,000 t of carbon
    # farming units expiring in 2036, all retired for 2029.
    turku_beccs = sale("beccs-2028", 35_000, "turku", "5250000.00")
    turku_biochar = sale("biochar-2028", 25_000, "turku", "3500000.00")
    turku_peat = sale("peatland-2028", 29_000, "turku", None)
    for serial in (turku_beccs, turku_biochar, turku_peat):
        retire(serial, "turku", "turku", "FI-19-853", year=2029)
    # Helsinki 2030: 1,200,000 t, far above the ~20% residual convention.
    for label, quantity in (("daccs-2029", 850_000), ("beccs-2028", 350_000)):
        serial = sale(label, quantity, "helsinki", None)
        retire(serial, "helsinki", "helsinki", "FI-18-091", year=2030)
    # Bogotá 2022: Colombian nature-based removals outside the CRCF.
    bogota = sale("forest-co-2021", 120_000, "bogota", "1800000000", "COP")
    retire(bogota, "bogota", "bogota", "CO-DC-11001", year=2022)
    # Melbourne FY2013-14: 51,030 t of avoidance credits, valid under their own scheme.
    melbourne = sale("wind-2013", 51_030, "melbourne", "255150.00", "AUD")
    retire(melbourne, "melbourne", "melbourne", "AU-VIC-24600", period=("2013-07-01", "2014-06-30"))
    # Espoo sells 10,000 t from its own forest to a company, which retires part of them.
    espoo_sold = sale("espoo-2028", 10_000, "steel-buyer", "450000.00")
    retire(espoo_sold.sub(espoo_sold.first, espoo_sold.first + 3_999), "steel-buyer", None, "FI", year=2029)
    # A corporate buyer passes part of its biochar on to a subsidiary-like second buyer.
    software = sale("biochar-2028", 4_000, "steel-buyer", "560000.00")
    part = software.sub(software.first, software.first + 999)
    demo.submit(commands.transfer(o, "steel-buyer", "software-buyer", str(part)), "steel-buyer")
    # A wildfire on the Colombian project: 5,000 t lost, drawn from its buffer pool.
    fire = "wildfire in the project area, March 2023"
    demo.submit(commands.cancel(o, OPERATOR, "reversal", fire, project="co-forest-1", quantity=5_000), OPERATOR)
    return retired
