"""Other registries' exports as signed ``import`` events, and the double counting they reveal.

The cross-registry cases are built from the real samples in ``../shared/data/registries``: a
project here that Verra or Gold Standard also issued, and overlapping serials between two
rows of the same registry's exports.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.database import create_engine
from registry import commands, findings, imports, replay, schema
from registry.errors import AlreadyExistsError, InvalidEventError, RuleError
from registry.external import ParsedExport, parse_export
from registry.findings import Kind, Severity
from registry.state import Applied
from tests.builders import OPERATOR, REPORT, World, world
from tests.conftest import SHARED_DATA
from tests.registry.test_findings import around, read_log

REGISTRIES = SHARED_DATA / "registries"
SAMPLES = sorted(REGISTRIES.glob("*/*.csv"))
ARR, FARMING = "afforestation-reforestation", "carbon-farming-sequestration"


def parsed(source: str, name: str) -> ParsedExport:
    return parse_export(source, (REGISTRIES / source / name).read_bytes())


def import_export(w: World, export: ParsedExport, name: str) -> list[int]:
    outcomes = w.registry.submit_many(
        [w.envelope(c, OPERATOR) for c in imports.import_commands(w.origin, OPERATOR, export, name)]
    )
    assert all(isinstance(o, Applied) for o in outcomes), outcomes
    return [o.index for o in outcomes if isinstance(o, Applied)]


def register(w: World, project: str, *, method: str, country: str, unit_type: str, external_ids: list[str]) -> None:
    command = commands.register_project(
        w.origin,
        project=project,
        supplier="supplier",
        name=f"Project {project}",
        method=method,
        unit_type=unit_type,
        location={"country": country},
        methodology="test methodology",
        scheme="test scheme",
        external_ids=external_ids,
    )
    w.submit(command, "supplier")


def issue(w: World, project: str, period: tuple[str, str], vintage: int, quantity: int = 500) -> int:
    command = commands.issue(
        w.origin,
        project=project,
        supplier="supplier",
        verifier="verifier",
        monitoring_period=period,
        vintage=vintage,
        quantity=quantity,
        report_sha256=REPORT,
    )
    return w.submit(command, "supplier", "verifier").index


def all_findings(w: World) -> list[findings.Finding]:
    with w.engine.connect() as conn:
        return findings.load(conn)


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return world(create_engine(f"sqlite:///{tmp_path_factory.mktemp('imports') / 'registry.db'}"))


@pytest.mark.parametrize("path", SAMPLES, ids=[f"{p.parent.name}/{p.name}" for p in SAMPLES])
def test_every_sample_imports_row_for_row(sqlite_world: World, path: Path) -> None:
    export = parse_export(path.parent.name, path.read_bytes())
    indices = import_export(sqlite_world, export, path.name)
    with sqlite_world.engine.connect() as conn:
        stored = conn.execute(
            sa.select(schema.external_records).where(schema.external_records.c.file_sha256 == export.sha256)
        ).all()
        problems = imports.import_problems_of(conn, export.sha256, after=None, limit=1000)["items"]
        listing = imports.import_list(conn, after=indices[0] - 1, limit=1)
        (listed,) = listing["items"]
    assert sorted(r.row for r in stored) == [r.row for r in export.records]  # every record, none dropped
    assert sorted((p["row"], p["field"], p["reason"]) for p in problems) == sorted(
        (p.row, p.field, p.reason) for p in export.problems
    )
    assert listed["file_sha256"] == export.sha256
    assert listed["indices"] == indices and listed["rows"] == export.rows
    assert listing["next"] == indices[0]
    for row, record in zip(sorted(stored, key=lambda r: r.row), export.records, strict=True):
        assert (row.project, row.quantity, row.serial_first, row.serial_last, row.period_start, row.date) == (
            record.project,
            record.quantity,
            record.serial.first if record.serial else None,
            record.serial.last if record.serial else None,
            record.period_start,
            record.date,
        )
    # Importing the same file again resubmits the same events: nothing changes.
    again = sqlite_world.registry.submit_many(
        [
            sqlite_world.envelope(c, OPERATOR)
            for c in imports.import_commands(sqlite_world.origin, OPERATOR, export, path.name)
        ]
    )
    assert [o.index for o in again if isinstance(o, Applied)] == indices
    assert all(isinstance(o, Applied) and o.duplicate for o in again)


def test_the_same_file_under_new_ids_is_refused(engine: Engine) -> None:
    w = world(engine)
    export = parsed("verra", "projects.csv")
    import_export(w, export, "projects.csv")
    (command,) = imports.import_commands(w.origin, OPERATOR, export, "projects.csv")
    command["id"] = "another-id"
    with pytest.raises(AlreadyExistsError, match="import part"):
        w.submit(command, OPERATOR)


def test_a_project_declared_in_verra_and_issued_here_for_the_same_period(engine: Engine) -> None:
    w = world(engine)
    # Verra's export: VCS 1340 (Bale Mountains, Ethiopia) has units of vintage 2020 (row 1).
    register(
        w,
        "bale",
        method="afforestation-reforestation",
        country="ET",
        unit_type="carbon-farming-sequestration",
        external_ids=["VCS 1340"],
    )
    imported = import_export(w, parsed("verra", "transactions.csv"), "transactions.csv")[0]  # row 1 is in part 1
    assert all_findings(w) == []  # the project has issued nothing here yet
    command = commands.issue(
        w.origin,
        project="bale",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2020-06-01", "2021-05-31"),
        vintage=2020,
        quantity=425,
        report_sha256=REPORT,
        expires="2040-12-31",
    )
    issued = w.submit(command, "supplier", "verifier").index
    (found,) = all_findings(w)
    assert (found.idx, found.kind, found.severity) == (issued, Kind.ISSUED_ELSEWHERE, Severity.BLOCKING)
    assert found.evidence == (imported, issued)
    assert found.project == "bale" and found.units[0].batch == 1
    assert found.detail["external"]["source"] == "verra" and found.detail["external"]["row"] == 1
    assert found.detail["external"]["serial"].startswith("19385-941467007-941467431-VCS-VCU-1507")
    assert "verra retirement row 1 holds 425 units of VCS 1340" in found.message
    replay_matches(w)


def test_an_import_after_the_issuance_finds_it_too(engine: Engine) -> None:
    w = world(engine)
    register(
        w,
        "bale",
        method="afforestation-reforestation",
        country="ET",
        unit_type="carbon-farming-sequestration",
        external_ids=["vcs  1340"],
    )
    command = commands.issue(
        w.origin,
        project="bale",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2020-01-01", "2020-12-31"),
        vintage=2020,
        quantity=10,
        report_sha256=REPORT,
        expires="2040-12-31",
    )
    issued = w.submit(command, "supplier", "verifier").index
    imported = import_export(w, parsed("verra", "transactions.csv"), "transactions.csv")[0]
    (found,) = all_findings(w)
    assert (found.idx, found.kind, found.evidence) == (imported, Kind.ISSUED_ELSEWHERE, (issued, imported))


def test_an_undeclared_project_of_the_same_country_method_and_period_is_a_warning(engine: Engine) -> None:
    w = world(engine)
    # Gold Standard's issuances: GS 7080, renewable energy in India, monitored 2021-01-01..2023-12-31 (rows 12-14).
    register(w, "in-solar", method="renewable-energy", country="IN", unit_type="reduction", external_ids=[])
    # "other" says nothing alike: never matched.
    register(w, "in-other", method="other", country="IN", unit_type="reduction", external_ids=[])
    issue(w, "in-other", ("2022-01-01", "2022-12-31"), 2022)
    issued = issue(w, "in-solar", ("2023-01-01", "2023-06-30"), 2023)
    export = parsed("gold-standard", "issuances.csv")
    import_export(w, export, "issuances.csv")
    found = all_findings(w)
    rows = sorted(f.detail["external"]["row"] for f in found)
    assert {f.kind for f in found} == {Kind.POSSIBLY_ISSUED_ELSEWHERE}
    assert {f.severity for f in found} == {Severity.WARNING}
    with w.engine.connect() as conn:
        carried = dict(
            conn.execute(
                sa.select(schema.external_records.c.row, schema.external_records.c.idx).where(
                    schema.external_records.c.file_sha256 == export.sha256
                )
            ).all()
        )
    for finding in found:  # the issuance here, and the import event that carried the row
        assert finding.evidence == (issued, carried[finding.detail["external"]["row"]])
    expected = [
        r.row
        for r in parsed("gold-standard", "issuances.csv").records
        if r.country == "IN"
        and r.removal_method == "renewable-energy"
        and r.period_start is not None
        and r.period_end is not None
        and str(r.period_start) <= "2023-06-30"
        and str(r.period_end) >= "2023-01-01"
    ]
    assert rows == expected and {12, 13, 14} <= set(rows)
    assert all(f.project == "in-solar" for f in found)


def test_overlapping_serials_between_two_rows_of_one_registry(engine: Engine) -> None:
    w = world(engine)
    export = parsed("american-carbon-registry", "retirements.csv")
    first = import_export(w, export, "retirements.csv")[0]  # row 1 is in part 1
    assert all_findings(w) == []  # the real sample retires no serial twice
    # A later export in which a retirement overlaps real row 1 (ACR-FR-1129-2025-2917-30932 to 35143).
    row = export.records[0]
    assert row.serial is not None and (row.serial.first, row.serial.last) == (30932, 35143)
    overlap = dataclasses.replace(row.serial, text="ACR-FR-1129-2025-2917-35000 to 35200", first=35000, last=35200)
    twice = dataclasses.replace(row, row=1, serial=overlap, quantity=201, beneficiary="Someone else")
    later = dataclasses.replace(export, sha256="ab" * 32, rows=1, records=(twice,), problems=())
    (second,) = import_export(w, later, "retirements-later.csv")
    (found,) = all_findings(w)
    assert (found.idx, found.kind, found.severity, found.evidence) == (
        second,
        Kind.EXTERNAL_SERIAL_OVERLAP,
        Severity.WARNING,
        (first, second),
    )
    assert [r["row"] for r in found.detail["rows"]] == [1, 1]
    assert "use the same serials" in found.message
    replay_matches(w)


def replay_matches(w: World) -> None:
    scratch = create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    replay.verify_state(w.sequencer.store, w.origin, w.engine, scratch)
    scratch.dispose()


# --- hostile or awkward imports ------------------------------------------------------------------


def test_an_import_with_a_row_twice_is_refused_and_writes_nothing(engine: Engine) -> None:
    w = world(engine)
    export = parsed("verra", "projects.csv")
    (command,) = imports.import_commands(w.origin, OPERATOR, export, "projects.csv")
    command["records"] = [command["records"][0], command["records"][0]]
    before = w.state()
    with pytest.raises(InvalidEventError, match="row 1 appears twice"):
        w.submit(command, OPERATOR)
    command["records"] = command["records"][:1]
    command["problems"] = [{"row": 51, "field": "ID", "reason": "beyond the file"}]
    with pytest.raises(InvalidEventError, match=r"row 51 \(problem 0\) is beyond the file's 50 rows"):
        w.submit(command, OPERATOR)
    assert w.state() == before


def test_a_row_imported_in_two_parts_is_refused(engine: Engine) -> None:
    w = world(engine)
    export = parsed("verra", "transactions.csv")
    first, second, *_ = imports.import_commands(w.origin, OPERATOR, export, "transactions.csv")
    w.submit(first, OPERATOR)
    second["records"] = [*second["records"], first["records"][0]]
    with pytest.raises(RuleError, match="row 1 of this file was imported at log index"):
        w.submit(second, OPERATOR)


def test_a_hostile_import_logged_around_the_registry_is_void_not_fatal(engine: Engine) -> None:
    w = world(engine)
    (command,) = imports.import_commands(w.origin, OPERATOR, parsed("verra", "projects.csv"), "projects.csv")
    w.submit(command, OPERATOR)
    command["id"] = "again"  # the same rows again, under a new id: the database would refuse the rows
    forged = around(w, command, OPERATOR)
    read_log(w)
    (found,) = all_findings(w)
    assert (found.idx, found.kind, found.units, found.account) == (forged, Kind.VOID_ENTRY, (), None)
    issue(w, "perm", ("2031-01-01", "2031-12-31"), 2031)  # and the registry goes on
    replay_matches(w)


def test_a_field_too_long_for_an_event_is_reported_not_carried(engine: Engine) -> None:
    w = world(engine)
    export = parsed("verra", "projects.csv")
    long_name = dataclasses.replace(export.records[0], project_name="N" * 2500)
    export = dataclasses.replace(export, records=(long_name, *export.records[1:]))
    (command,) = imports.import_commands(w.origin, OPERATOR, export, "projects.csv")
    w.submit(command, OPERATOR)
    with w.engine.connect() as conn:
        name = conn.execute(
            sa.select(schema.external_records.c.project_name).where(schema.external_records.c.row == 1)
        ).scalar_one()
        problems = imports.import_problems_of(conn, export.sha256, after=None, limit=10)["items"]
    assert name is None
    assert [(p["row"], p["field"]) for p in problems] == [(1, "project_name")]
    assert "longer than 2,000 characters" in problems[0]["reason"]


@pytest.mark.parametrize("declared", ["VCS1340", "vcs-1340", "Verra 1340", "VCS 01340"])
def test_declared_ids_match_however_they_are_written(engine: Engine, declared: str) -> None:
    w = world(engine)
    register(w, "bale", method=ARR, country="ET", unit_type=FARMING, external_ids=[declared])
    command = commands.issue(
        w.origin,
        project="bale",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2020-01-01", "2020-12-31"),
        vintage=2020,
        quantity=10,
        report_sha256=REPORT,
        expires="2040-12-31",
    )
    w.submit(command, "supplier", "verifier")
    import_export(w, parsed("verra", "transactions.csv"), "transactions.csv")
    assert [f.kind for f in all_findings(w)] == [Kind.ISSUED_ELSEWHERE]


def test_project_keys() -> None:
    assert findings.project_key("ACR731") == "ACR 731"
    assert findings.project_key("car_1335") == "CAR 1335"
    assert findings.project_key("Gold Standard 1247") == "GS 1247"
    assert findings.project_key("GS1247") == "GS 1247"
    assert findings.project_key("ISOMETRIC prj_1HHYZFVGW1S044ZY") == "ISOMETRIC PRJ 1HHYZFVGW1S044ZY"
    assert findings.project_key("isometric PRJ-1HHYZFVGW1S044ZY") == "ISOMETRIC PRJ 1HHYZFVGW1S044ZY"
    assert findings.project_key("a project of ours") == "A PROJECT OF OURS"  # another shape: only normalised
