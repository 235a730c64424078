"""Importers of other registries' exports, on the real samples in shared/data/registries."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.external import SOURCES, ExportFormatError, file_kinds, parse_export
from registry.external.common import DateLayout, country_code, parse_date, parse_whole_number
from registry.external.records import (
    REMOVAL_METHODS,
    UNIT_CLASSES,
    ExternalRecord,
    ExternalSerial,
    ParsedExport,
    RowProblem,
)
from registry.vocabulary import RemovalMethod, UnitType
from tests.conftest import SHARED_DATA

REGISTRIES = SHARED_DATA / "registries"

# Every sample file: its kind, data rows, records and problems.
EXPECTED = {
    ("verra", "projects.csv"): ("projects", 50, 50, 0),
    ("verra", "transactions.csv"): ("transactions", 200, 200, 0),
    ("gold-standard", "projects.csv"): ("projects", 50, 50, 2),
    ("gold-standard", "issuances.csv"): ("issuances", 100, 100, 0),
    ("gold-standard", "retirements.csv"): ("retirements", 100, 100, 6),
    ("american-carbon-registry", "projects.csv"): ("projects", 50, 50, 0),
    ("american-carbon-registry", "issuances.csv"): ("issuances", 100, 100, 0),
    ("american-carbon-registry", "retirements.csv"): ("retirements", 100, 100, 0),
    ("american-carbon-registry", "cancellations.csv"): ("cancellations", 50, 50, 0),
    ("climate-action-reserve", "projects.csv"): ("projects", 50, 50, 0),
    ("climate-action-reserve", "issuances.csv"): ("issuances", 100, 100, 0),
    ("climate-action-reserve", "retirements.csv"): ("retirements", 100, 100, 0),
    ("climate-action-reserve", "cancellations.csv"): ("cancellations", 50, 50, 0),
    ("isometric", "projects.csv"): ("projects", 50, 50, 0),
    ("isometric", "issuances.csv"): ("issuances", 100, 100, 100),
    ("isometric", "retirements.csv"): ("retirements", 100, 100, 23),
}
SAMPLES = sorted(EXPECTED)

# The files with serial numbers: the serial column and the quantity column it must count.
SERIAL_FILES = {
    ("verra", "transactions.csv"): ("Serial Number", "Quantity Issued"),
    ("gold-standard", "issuances.csv"): ("Serial Number", "Quantity"),
    ("gold-standard", "retirements.csv"): ("Serial Number", "Quantity"),
    ("american-carbon-registry", "retirements.csv"): ("Credit Serial Numbers", "Quantity of Credits"),
    ("american-carbon-registry", "cancellations.csv"): ("Credit Serial Numbers", "Quantity of Credits"),
    ("climate-action-reserve", "retirements.csv"): ("Offset Credit Serial Numbers", "Quantity of Offset Credits"),
    ("climate-action-reserve", "cancellations.csv"): ("Offset Credit Serial Numbers", "Quantity of Offset Credits"),
}


def sample_bytes(source: str, name: str) -> bytes:
    return (REGISTRIES / source / name).read_bytes()


@functools.cache
def parsed(source: str, name: str) -> ParsedExport:
    return parse_export(source, sample_bytes(source, name))


def csv_rows(data: bytes) -> list[dict[str, str]]:
    """The data rows as the csv module reads them, independently of the importer."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def record_in(export: ParsedExport, row: int) -> ExternalRecord:
    (found,) = [r for r in export.records if r.row == row]
    return found


def record(source: str, name: str, row: int) -> ExternalRecord:
    return record_in(parsed(source, name), row)


def problems_of(export: ParsedExport, row: int) -> list[tuple[str, str]]:
    return [(p.field, p.reason) for p in export.problems if p.row == row]


def edited(source: str, name: str, row: int, column: str, value: str) -> bytes:
    """The sample file with one cell of one data row (1-based) replaced, written back as CSV."""
    table = list(csv.reader(io.StringIO(sample_bytes(source, name).decode("utf-8-sig"), newline="")))
    table[row][table[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out).writerows(table)  # its \r\n line ends make it quote any cell with \r or \n
    return out.getvalue().encode()


def assert_only_row_changed(before: ParsedExport, after: ParsedExport, row: int) -> None:
    assert [r for r in after.records if r.row != row] == [r for r in before.records if r.row != row]
    assert [p for p in after.problems if p.row != row] == [p for p in before.problems if p.row != row]


# --- every sample file, every row ------------------------------------------------------------------


def test_the_samples_are_the_files_expected() -> None:
    found = {(source, path.name) for source in SOURCES for path in (REGISTRIES / source).glob("*.csv")}
    assert found == set(EXPECTED)
    assert {source for source, _ in EXPECTED} == set(SOURCES)


@pytest.mark.parametrize(("source", "name"), SAMPLES)
def test_every_row_of_every_sample_is_accounted_for(source: str, name: str) -> None:
    data = sample_bytes(source, name)
    export = parsed(source, name)
    kind, rows, records, problems = EXPECTED[source, name]
    assert (export.source, export.kind, export.rows) == (source, kind, rows)
    assert export.rows == len(csv_rows(data))
    assert (len(export.records), len(export.problems)) == (records, problems)
    assert export.sha256 == hashlib.sha256(data).hexdigest()
    record_rows = [r.row for r in export.records]
    assert len(record_rows) == len(set(record_rows)), "one record per row at most"
    assert set(record_rows) | {p.row for p in export.problems} == set(range(1, export.rows + 1))
    assert all(r.source == source for r in export.records)
    assert all((p.source, p.kind) == (source, kind) for p in export.problems)
    assert kind in file_kinds(source)


@pytest.mark.parametrize(("source", "name"), SAMPLES)
def test_every_record_and_problem_round_trips_through_json(source: str, name: str) -> None:
    export = parsed(source, name)
    for item in export.records:
        assert ExternalRecord.from_json(json.loads(json.dumps(item.to_json()))) == item
    for problem in export.problems:
        assert RowProblem.from_json(json.loads(json.dumps(problem.to_json()))) == problem


@pytest.mark.parametrize(("source", "name"), sorted(SERIAL_FILES))
def test_every_serial_parses_and_counts_the_row_quantity(source: str, name: str) -> None:
    serial_column, quantity_column = SERIAL_FILES[source, name]
    rows = csv_rows(sample_bytes(source, name))
    export = parsed(source, name)
    assert [p for p in export.problems if p.field in {"serial", "quantity"}] == []
    assert len(export.records) == len(rows)
    for item in export.records:
        published = rows[item.row - 1]
        assert item.serial is not None
        assert item.serial.text == published[serial_column]
        assert item.quantity == parse_whole_number(published[quantity_column])
        assert item.quantity == item.serial.last - item.serial.first + 1


def test_gold_standard_prints_cdm_units_in_the_un_layout_which_also_counts_the_quantity() -> None:
    issuances = parsed("gold-standard", "issuances.csv")
    current = [r for r in issuances.records if r.serial is not None and r.serial.text.startswith("GS1-1-")]
    cdm = [r for r in issuances.records if r.serial is not None and not r.serial.text.startswith("GS")]
    assert (len(current), len(cdm)) == (97, 3)
    assert [(r.row, r.serial) for r in cdm] == [
        (81, ExternalSerial("RW-5-1463953-2-2-0-7014 - RW-5-1467609-2-2-0-7014", "RW-5-2-2-0-7014", 1463953, 1467609)),
        (82, ExternalSerial("RW-5-1460108-2-2-0-7014 - RW-5-1463952-2-2-0-7014", "RW-5-2-2-0-7014", 1460108, 1463952)),
        (83, ExternalSerial("RW-5-1459975-2-2-0-7014 - RW-5-1460107-2-2-0-7014", "RW-5-2-2-0-7014", 1459975, 1460107)),
    ]
    assert [r.quantity for r in cdm] == [3657, 3845, 133]
    # The three CDM blocks of one project follow each other: they touch, and never overlap.
    serials = [r.serial for r in cdm if r.serial is not None]
    assert not any(a.overlaps(b) for a in serials for b in serials if a is not b)
    retirements = parsed("gold-standard", "retirements.csv")
    assert all(r.serial is not None and r.serial.text.startswith("GS1-1-") for r in retirements.records)


def test_the_problems_found_in_the_samples() -> None:
    gs_projects = parsed("gold-standard", "projects.csv")
    international = "column 'Country': 'International' is not an ISO 3166-1 country name or code"
    assert [(p.row, p.field, p.reason) for p in gs_projects.problems] == [
        (36, "country", international),
        (37, "country", international),
    ]
    assert record("gold-standard", "projects.csv", 36).country is None

    # Six cancellations without a date: three plain, three exports to Zimbabwe's registry.
    gs_retirements = parsed("gold-standard", "retirements.csv")
    assert [(p.row, p.field, p.reason) for p in gs_retirements.problems] == [
        (row, "date", "column 'Retirement Date' is empty") for row in (41, 42, 43, 91, 92, 93)
    ]
    assert {record("gold-standard", "retirements.csv", row).kind for row in (41, 42, 43, 91, 92, 93)} == {
        "cancellation"
    }

    iso_issuances = parsed("isometric", "issuances.csv")
    assert {p.field for p in iso_issuances.problems} == {"quantity"}
    assert all(p.reason.endswith("is not a whole number of tonnes") for p in iso_issuances.problems)
    assert problems_of(iso_issuances, 1) == [("quantity", "2765.37 t (2765370 kg) is not a whole number of tonnes")]
    iso_retirements = parsed("isometric", "retirements.csv")
    assert {p.field for p in iso_retirements.problems} == {"quantity"}
    assert all(p.reason.endswith("is not a whole number of tonnes") for p in iso_retirements.problems)


# --- spot checks of exact values -------------------------------------------------------------------


def test_verra_rows() -> None:
    assert record("verra", "transactions.csv", 1) == ExternalRecord(
        source="verra",
        kind="retirement",
        row=1,
        project="VCS 1340",
        project_name="Bale Mountains Eco-region REDD+ project",
        country="ET",
        method="VM0015",
        removal_method="other",
        quantity=425,
        vintage=2020,
        period_start=dt.date(2020, 1, 1),
        period_end=dt.date(2020, 12, 31),
        date=dt.date(2026, 4, 10),
        serial=ExternalSerial(
            "19385-941467007-941467431-VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1",
            "VCS-VCU-1507-VER-ET-14-1340-01012020-31122020-1",
            941467007,
            941467431,
        ),
    )
    retired = record("verra", "transactions.csv", 89)
    assert (retired.kind, retired.quantity, retired.date) == ("retirement", 3064, dt.date(2026, 3, 12))
    assert retired.beneficiary == "TIM S/A  (CNPJ: 02.421.421/0001-11)"
    assert (retired.method, retired.removal_method, retired.country) == ("ACM0002", "renewable-energy", "BR")
    issued = record("verra", "transactions.csv", 101)
    assert (issued.kind, issued.project, issued.quantity, issued.date) == (
        "issuance",
        "VCS 1996",
        10000,
        dt.date(2026, 4, 13),
    )
    assert issued.beneficiary is None
    assert Counter(r.kind for r in parsed("verra", "transactions.csv").records) == {"retirement": 100, "issuance": 100}
    project = record("verra", "projects.csv", 2)
    assert (project.project, project.country, project.method, project.removal_method) == (
        "VCS 5957",
        "KE",
        "VM0042",
        "soil-carbon",
    )
    assert (project.period_start, project.period_end) == (dt.date(2024, 4, 1), dt.date(2044, 3, 31))


def test_gold_standard_rows() -> None:
    issued = record("gold-standard", "issuances.csv", 1)
    assert issued == ExternalRecord(
        source="gold-standard",
        kind="issuance",
        row=1,
        project="GS 11236",
        project_name="BioLite Improved Cook stoves Programme - CPA 028 supported by Republic of Korea",
        country="UG",
        method="Energy Efficiency - Domestic",
        removal_method="other",
        unit_class="reduction",
        quantity=19149,
        vintage=2024,
        period_start=dt.date(2024, 1, 1),
        period_end=dt.date(2024, 12, 8),
        date=dt.date(2026, 4, 13),  # 2026-04-13T12:35:58.842275
        serial=ExternalSerial("GS1-1-UG-GS11236-16-2024-30307-1-19149", "GS1-1-UG-GS11236-16-2024-30307", 1, 19149),
    )
    assert record("gold-standard", "issuances.csv", 31).country == "TZ"  # "Tanzania United Republic of"
    assert record("gold-standard", "issuances.csv", 42).country == "TR"  # "Turkey", now "Türkiye" in ISO 3166-1
    retired = record("gold-standard", "retirements.csv", 1)
    assert (retired.kind, retired.project, retired.country, retired.quantity) == ("retirement", "GS 11603", "KE", 5354)
    assert retired.beneficiary == "Hilti Corporation"
    assert retired.date == dt.date(2026, 4, 10)
    assert retired.serial == ExternalSerial(
        "GS1-1-KE-GS11603-16-2025-30256-110-5463", "GS1-1-KE-GS11603-16-2025-30256", 110, 5463
    )
    assert record("gold-standard", "retirements.csv", 94).country == "CD"  # "Congo the Democratic Republic of the"
    cancelled = record("gold-standard", "retirements.csv", 91)
    assert (cancelled.kind, cancelled.date, cancelled.quantity) == ("cancellation", None, 334563)
    assert record("gold-standard", "projects.csv", 1).project == "GS 23574"


def test_acr_rows() -> None:
    cancelled = record("american-carbon-registry", "cancellations.csv", 1)
    assert cancelled == ExternalRecord(
        source="american-carbon-registry",
        kind="cancellation",
        row=1,
        project="ACR 1185",
        project_name="A-Gas 1-2025",
        country="US",
        method="ECY Compliance Offset Protocol: Ozone Depleting Substances Projects",
        removal_method="other",
        quantity=85847,
        vintage=2025,
        period_start=dt.date(2024, 12, 9),  # 12/9/2024
        period_end=dt.date(2025, 6, 3),
        date=dt.date(2026, 1, 22),  # Status Effective  (GMT): 1/22/2026 7:12:08 PM
        serial=ExternalSerial("ACR-US-1185-2025-3078-1 to 85847", "ACR-US-1185-2025-3078", 1, 85847),
    )
    retired = record("american-carbon-registry", "retirements.csv", 1)
    assert (retired.project, retired.country, retired.quantity, retired.beneficiary) == ("ACR 1129", "FR", 4212, "AWS")
    assert retired.serial == ExternalSerial(
        "ACR-FR-1129-2025-2917-30932 to 35143", "ACR-FR-1129-2025-2917", 30932, 35143
    )
    assert retired.date == dt.date(2026, 4, 13)
    issued = record("american-carbon-registry", "issuances.csv", 2)
    assert (issued.project, issued.quantity, issued.date, issued.serial) == (
        "ACR 1185",
        85847,
        dt.date(2025, 11, 3),
        None,
    )
    removals = [r for r in parsed("american-carbon-registry", "issuances.csv").records if r.unit_class == "removal"]
    assert len(removals) == 13  # "Verified Removal: Yes"
    project = record("american-carbon-registry", "projects.csv", 1)
    assert (project.project, project.period_start, project.period_end) == (
        "ACR 586",
        dt.date(2020, 1, 15),
        dt.date(2040, 1, 14),
    )


def test_car_rows() -> None:
    retired = record("climate-action-reserve", "retirements.csv", 1)
    assert retired == ExternalRecord(
        source="climate-action-reserve",
        kind="retirement",
        row=1,
        project="CAR 1335",
        project_name="Coffeyville NAP2",
        country="US",
        method="Nitric Acid N2O- Tertiary Catalyst",
        removal_method="other",
        unit_class="reduction",
        quantity=5000,
        vintage=2025,
        date=dt.date(2025, 10, 27),
        serial=ExternalSerial(
            "CAR-1-US-1335-31-983-KS-2025-9205-1 to 5000", "CAR-1-US-1335-31-983-KS-2025-9205", 1, 5000
        ),
    )
    cancelled = record("climate-action-reserve", "cancellations.csv", 8)
    assert (cancelled.project, cancelled.quantity, cancelled.date) == ("CAR 1316", 25411, dt.date(2026, 2, 18))
    assert cancelled.serial == ExternalSerial(
        "CAR-ROC-US-1316-105-276-CA-2025-9388-2 to 25412", "CAR-ROC-US-1316-105-276-CA-2025-9388", 2, 25412
    )
    issued = record("climate-action-reserve", "issuances.csv", 1)
    assert (issued.project, issued.quantity, issued.date, issued.unit_class) == (
        "CAR 2264",
        9166,
        dt.date(2026, 3, 19),
        "reduction",
    )
    assert record("climate-action-reserve", "projects.csv", 1).removal_method == "afforestation-reforestation"


def test_isometric_rows() -> None:
    retired = record("isometric", "retirements.csv", 1)
    assert retired == ExternalRecord(
        source="isometric",
        kind="retirement",
        row=1,
        project="ISOMETRIC prj_1HHYZFVGW1S044ZY",
        unit_class="removal",
        quantity=531,  # 531.0 t, 531000 kg
        period_start=dt.date(2026, 1, 22),
        period_end=dt.date(2026, 1, 22),
        date=dt.date(2026, 4, 9),  # 2026-04-09T18:21:22.047712Z
        beneficiary="Workday",
    )
    issued = record("isometric", "issuances.csv", 2)
    assert (issued.project, issued.quantity, issued.date) == (
        "ISOMETRIC prj_1HHYZFVGW1S044ZY",
        None,
        dt.date(2026, 4, 10),
    )
    assert problems_of(parsed("isometric", "issuances.csv"), 2) == [
        ("quantity", "5024.4 t (5024400 kg) is not a whole number of tonnes")
    ]
    project = record("isometric", "projects.csv", 1)
    assert (project.project, project.country, project.method, project.removal_method) == (
        "ISOMETRIC prj_1K3VWSDS61S0QKV7",
        "IN",  # IND
        "biochar",
        "biochar",
    )
    assert (project.period_start, project.period_end) == (dt.date(2025, 11, 27), dt.date(2030, 11, 26))


# --- files that cannot be read ---------------------------------------------------------------------


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="unknown source") as caught:
        parse_export("puro-earth", sample_bytes("verra", "projects.csv"))
    assert caught.value.source == "puro-earth"
    assert caught.value.code == "export-format"


def test_an_unknown_header_is_refused_naming_the_missing_columns() -> None:
    with pytest.raises(ExportFormatError, match="header not recognised") as caught:
        parse_export("verra", b"a,b\n1,2\n")
    assert caught.value.source == "verra"
    data = sample_bytes("verra", "transactions.csv").replace(b"Serial Number,", b"Serial No,", 1)
    with pytest.raises(ExportFormatError) as caught:
        parse_export("verra", data)
    assert caught.value.reason == (
        "header not recognised: closest is the transactions file, whose columns 'Serial Number' are missing"
    )
    with pytest.raises(ExportFormatError, match="header not recognised"):
        parse_export("isometric", sample_bytes("verra", "transactions.csv"))


def test_bytes_that_are_not_utf8_are_refused() -> None:
    data = sample_bytes("verra", "projects.csv")
    latin1 = data.replace("Paraná".encode(), "Paraná".encode("latin-1"))  # as a Windows export would write it
    with pytest.raises(ExportFormatError, match="not UTF-8") as caught:
        parse_export("verra", latin1)
    assert caught.value.source == "verra"
    where = latin1.index("Paraná".encode("latin-1")) + len("Paran")
    assert caught.value.reason == f"not UTF-8: byte {where} (0xe1): invalid continuation byte"


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="empty"):
        parse_export("verra", b"")


def test_a_byte_order_mark_changes_the_digest_only() -> None:
    data = sample_bytes("climate-action-reserve", "retirements.csv")
    with_bom = parse_export("climate-action-reserve", b"\xef\xbb\xbf" + data)
    without = parsed("climate-action-reserve", "retirements.csv")
    assert (with_bom.records, with_bom.problems) == (without.records, without.problems)
    assert with_bom.sha256 != without.sha256


# --- rows that cannot be used as published ---------------------------------------------------------


def test_a_corrupted_serial_is_a_problem_of_its_row_only() -> None:
    data = edited(
        "american-carbon-registry", "retirements.csv", 5, "Credit Serial Numbers", "ACR-US-1107-2024-2766 64358"
    )
    after = parse_export("american-carbon-registry", data)
    before = parsed("american-carbon-registry", "retirements.csv")
    assert problems_of(after, 5) == [
        (
            "serial",
            "column 'Credit Serial Numbers': 'ACR-US-1107-2024-2766 64358' is not a serial range of the form "
            "ACR-{country}-{project}-{vintage}-{batch}-{first} to {last}",
        )
    ]
    corrupted = record_in(after, 5)
    assert corrupted.serial is None
    assert corrupted.quantity == record("american-carbon-registry", "retirements.csv", 5).quantity
    assert_only_row_changed(before, after, 5)


def test_a_quantity_that_is_not_the_serial_range_is_a_problem() -> None:
    after = parse_export("verra", edited("verra", "transactions.csv", 1, "Quantity Issued", "426"))
    assert problems_of(after, 1) == [("quantity", "426 is not the 425 units of serial range 941467007-941467431")]
    corrupted = record_in(after, 1)
    assert corrupted.quantity is None
    assert corrupted.serial == record("verra", "transactions.csv", 1).serial
    assert_only_row_changed(parsed("verra", "transactions.csv"), after, 1)


def test_a_quantity_that_is_not_a_number_is_a_problem() -> None:
    after = parse_export(
        "climate-action-reserve",
        edited("climate-action-reserve", "retirements.csv", 3, "Quantity of Offset Credits", "1OO"),
    )
    assert problems_of(after, 3) == [("quantity", "column 'Quantity of Offset Credits': '1OO' is not a whole number")]
    assert record_in(after, 3).quantity is None
    assert_only_row_changed(parsed("climate-action-reserve", "retirements.csv"), after, 3)


def test_a_serial_of_another_project_is_a_problem() -> None:
    after = parse_export(
        "climate-action-reserve", edited("climate-action-reserve", "cancellations.csv", 1, "Project ID", "CAR2057")
    )
    assert problems_of(after, 1) == [
        (
            "serial",
            "column 'Offset Credit Serial Numbers': 'CAR-ROC-US-2056-129-2283-WV-2025-8969-1 to 260294' "
            "names project 2056, the row 2057",
        )
    ]
    moved = record_in(after, 1)
    assert (moved.project, moved.serial, moved.quantity) == ("CAR 2057", None, 260294)


def test_a_bad_date_or_country_or_project_is_a_problem() -> None:
    after = parse_export(
        "american-carbon-registry",
        edited("american-carbon-registry", "cancellations.csv", 2, "Status Effective  (GMT)", "10/32/2025 11:14:22 PM"),
    )
    assert problems_of(after, 2) == [
        (
            "date",
            "column 'Status Effective (GMT)': '10/32/2025 11:14:22 PM' is not a real date "
            "(day is out of range for month)",
        )
    ]
    after = parse_export("gold-standard", edited("gold-standard", "issuances.csv", 4, "Country", "Atlantis"))
    assert problems_of(after, 4) == [
        ("country", "column 'Country': 'Atlantis' is not an ISO 3166-1 country name or code")
    ]
    after = parse_export("isometric", edited("isometric", "retirements.csv", 1, "project_id", "1HHYZFVGW1S044ZY"))
    assert problems_of(after, 1) == [
        ("project", "column 'project_id': '1HHYZFVGW1S044ZY' is not a ISOMETRIC project id")
    ]
    assert [r.row for r in after.records if r.row == 1] == []  # no project, no record: only the problem


def test_verra_rows_whose_reason_says_cancelled_are_cancellations() -> None:
    after = parse_export(
        "verra", edited("verra", "transactions.csv", 2, "Retirement Reason", "Cancellation for Article 6")
    )
    assert record_in(after, 2).kind == "cancellation"
    assert record("verra", "transactions.csv", 2).kind == "retirement"


def test_a_row_with_more_cells_than_the_header_is_read_with_a_problem() -> None:
    data = sample_bytes("climate-action-reserve", "projects.csv")
    lines = data.split(b"\n")
    lines[3] += b",surplus"
    after = parse_export("climate-action-reserve", b"\n".join(lines))
    assert problems_of(after, 3) == [("row", "30 cells where the header has 29")]
    assert record_in(after, 3) == record("climate-action-reserve", "projects.csv", 3)


@given(st.sampled_from(SAMPLES), st.integers(1, 50), st.integers(0, 40), st.text(max_size=60))
def test_no_cell_makes_a_readable_file_unreadable(
    sample: tuple[str, str], row: int, column_index: int, value: str
) -> None:
    source, name = sample
    header = next(csv.reader(io.StringIO(sample_bytes(source, name).decode("utf-8-sig"), newline="")))
    column = header[column_index % len(header)]
    export = parse_export(source, edited(source, name, row, column, value))
    assert {r.row for r in export.records} | {p.row for p in export.problems} == set(range(1, export.rows + 1))
    assert_only_row_changed(parsed(source, name), export, row)


# --- the pieces ------------------------------------------------------------------------------------


def test_the_vocabularies_are_the_registrys() -> None:
    assert set(REMOVAL_METHODS) == {method.value for method in RemovalMethod}
    assert set(UNIT_CLASSES) <= {unit.value for unit in UnitType}


@pytest.mark.parametrize(
    ("text", "number"), [("425", 425), ("1,454,054", 1454054), ("550369.0", 550369), ("531.0", 531), ("0", 0)]
)
def test_whole_numbers_as_published(text: str, number: int) -> None:
    assert parse_whole_number(text) == number


@pytest.mark.parametrize("text", ["2765.37", "1,45", "14,54,054", "-5", "", " 5", "5e3", "1.5.0"])
def test_what_is_not_a_whole_number(text: str) -> None:
    with pytest.raises(ValueError, match="is not a whole number"):
        parse_whole_number(text)


@pytest.mark.parametrize(
    ("text", "layout", "day"),
    [
        ("11/3/2025 7:10:41 PM", "us", dt.date(2025, 11, 3)),
        ("11/15/2024 12:09:06 AM", "us", dt.date(2024, 11, 15)),
        ("03/19/2026", "us", dt.date(2026, 3, 19)),
        ("2026-04-13", "iso", dt.date(2026, 4, 13)),
        ("2026-04-13T12:35:58.842275", "iso", dt.date(2026, 4, 13)),
        ("2026-04-14T16:50:41.621676Z", "iso", dt.date(2026, 4, 14)),
        ("2026-04-14T01:00:00+02:00", "iso", dt.date(2026, 4, 13)),
    ],
)
def test_dates_as_published(text: str, layout: DateLayout, day: dt.date) -> None:
    assert parse_date(text, layout) == day


@pytest.mark.parametrize(
    ("text", "layout"),
    [
        ("2/30/2025", "us"),
        ("2025-11-03", "us"),
        ("11/3/2025 19:10:41", "us"),
        ("03/19/2026", "iso"),
        ("2026-13-01", "iso"),
    ],
)
def test_what_is_not_a_date(text: str, layout: DateLayout) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_date(text, layout)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Ethiopia", "ET"),
        ("IND", "IN"),
        ("US", "US"),
        ("Viet Nam", "VN"),
        ("United States", "US"),
        ("Turkey", "TR"),
        ("Tanzania United Republic of", "TZ"),
        ("Congo the Democratic Republic of the", "CD"),
        ("COG", "CG"),
    ],
)
def test_countries_as_published(name: str, code: str) -> None:
    assert country_code(name) == code


@pytest.mark.parametrize("name", ["International", "Ethiopa", "Europe", "Congo Republic", ""])
def test_what_is_not_a_country(name: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO 3166-1 country name or code"):
        country_code(name)


@st.composite
def serial_ranges(draw: st.DrawFn) -> ExternalSerial:
    first = draw(st.integers(0, 60))
    last = draw(st.integers(first, 80))
    block = draw(st.sampled_from(["ACR-US-1185-2025-3078", "ACR-US-1185-2025-3079"]))
    return ExternalSerial(f"{block}-{first} to {last}", block, first, last)


@given(serial_ranges(), serial_ranges())
def test_ranges_overlap_when_they_share_a_unit_of_one_block(a: ExternalSerial, b: ExternalSerial) -> None:
    shared = set(range(a.first, a.last + 1)) & set(range(b.first, b.last + 1))
    assert a.overlaps(b) == b.overlaps(a) == (a.block == b.block and bool(shared))


@given(serial_ranges())
def test_a_serial_round_trips_through_json(serial: ExternalSerial) -> None:
    assert ExternalSerial.from_json(json.loads(json.dumps(serial.to_json()))) == serial


Damage = Callable[[dict[str, object]], None]


def _drop_quantity(data: dict[str, object]) -> None:
    del data["quantity"]


def _string_row(data: dict[str, object]) -> None:
    data["row"] = "1"


def _bad_date(data: dict[str, object]) -> None:
    data["date"] = "10/04/2026"


def _half_period(data: dict[str, object]) -> None:
    data["period_end"] = None


def _unknown_kind(data: dict[str, object]) -> None:
    data["kind"] = "transfer"


@pytest.mark.parametrize("damage", [_drop_quantity, _string_row, _bad_date, _half_period, _unknown_kind])
def test_from_json_refuses_what_to_json_never_gives(damage: Damage) -> None:
    data = record("verra", "transactions.csv", 1).to_json()
    damage(data)
    with pytest.raises(ValueError):
        ExternalRecord.from_json(data)
