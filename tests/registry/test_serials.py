"""Printed serial ranges: ``parse`` accepts exactly what ``str(SerialRange)`` prints."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry import serials
from registry.serials import MAX_SERIAL, SLUG, SerialFormatError, SerialRange

projects = st.from_regex(SLUG, fullmatch=True)
vintages = st.integers(1000, 9999)
numbers = st.integers(1, MAX_SERIAL)


@st.composite
def serial_ranges(draw: st.DrawFn) -> SerialRange:
    first = draw(numbers)
    # Mostly short ranges, sometimes up to the end of the serial space.
    last = draw(st.one_of(st.integers(first, min(first + 1000, MAX_SERIAL)), st.integers(first, MAX_SERIAL)))
    return SerialRange(draw(projects), draw(vintages), draw(numbers), first, last)


def printed(project: str, vintage: str, batch: str, first: str, last: str) -> str:
    return f"{project}.{vintage}.{batch}.{first}-{last}"


@given(serial_ranges())
def test_printed_range_parses_back_exactly(serial: SerialRange) -> None:
    text = str(serial)
    assert serials.parse(text) == serial
    assert str(serials.parse(text)) == text


@given(serial_ranges())
def test_quantity_counts_both_ends(serial: SerialRange) -> None:
    assert serial.quantity == serial.last - serial.first + 1
    assert serials.parse(str(serial)).quantity == serial.quantity


@given(serial_ranges(), st.data())
def test_sub_ranges_print_and_parse(serial: SerialRange, data: st.DataObject) -> None:
    first = data.draw(st.integers(serial.first, serial.last))
    last = data.draw(st.integers(first, serial.last))
    part = serial.sub(first, last)
    assert serials.parse(str(part)) == part
    assert part.quantity == last - first + 1


# --- malformed printed forms -----------------------------------------------------------------

Mutation = Callable[[SerialRange], str]


def _leading_zero_batch(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), f"0{s.batch}", str(s.first), str(s.last))


def _leading_zero_first(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), f"0{s.first}", str(s.last))


def _leading_zero_last(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), str(s.first), f"00{s.last}")


def _first_after_last(s: SerialRange) -> str:
    assume(s.first < s.last)
    return printed(s.project, str(s.vintage), str(s.batch), str(s.last), str(s.first))


def _missing_project(s: SerialRange) -> str:
    return f"{s.vintage}.{s.batch}.{s.first}-{s.last}"


def _empty_project(s: SerialRange) -> str:
    return f".{s.vintage}.{s.batch}.{s.first}-{s.last}"


def _missing_vintage(s: SerialRange) -> str:
    return f"{s.project}.{s.batch}.{s.first}-{s.last}"


def _missing_batch(s: SerialRange) -> str:
    return f"{s.project}.{s.vintage}.{s.first}-{s.last}"


def _missing_last(s: SerialRange) -> str:
    return f"{s.project}.{s.vintage}.{s.batch}.{s.first}"


def _missing_last_after_dash(s: SerialRange) -> str:
    return f"{s.project}.{s.vintage}.{s.batch}.{s.first}-"


def _missing_first(s: SerialRange) -> str:
    return f"{s.project}.{s.vintage}.{s.batch}.-{s.last}"


def _uppercase_project(s: SerialRange) -> str:
    assume(s.project != s.project.upper())
    return printed(s.project.upper(), str(s.vintage), str(s.batch), str(s.first), str(s.last))


def _uppercase_letter_in_project(s: SerialRange) -> str:
    return printed(f"X{s.project}", str(s.vintage), str(s.batch), str(s.first), str(s.last))


def _three_digit_vintage(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage)[:3], str(s.batch), str(s.first), str(s.last))


def _five_digit_vintage(s: SerialRange) -> str:
    return printed(s.project, f"{s.vintage}0", str(s.batch), str(s.first), str(s.last))


def _zero_padded_vintage(s: SerialRange) -> str:
    return printed(s.project, f"0{str(s.vintage)[:3]}", str(s.batch), str(s.first), str(s.last))


def _negative_batch(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), f"-{s.batch}", str(s.first), str(s.last))


def _negative_first(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), f"-{s.first}", str(s.last))


def _negative_last(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), str(s.first), f"-{s.last}")


def _plus_sign(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), f"+{s.first}", str(s.last))


def _extra_component(s: SerialRange) -> str:
    return f"{s.project}.{s.vintage}.{s.batch}.{s.batch}.{s.first}-{s.last}"


def _double_dot(s: SerialRange) -> str:
    return f"{s.project}..{s.vintage}.{s.batch}.{s.first}-{s.last}"


def _trailing_dot(s: SerialRange) -> str:
    return f"{s}."


def _leading_dot(s: SerialRange) -> str:
    return f".{s}"


def _dot_in_project(s: SerialRange) -> str:
    return f"{s.project}.x.{s.vintage}.{s.batch}.{s.first}-{s.last}"


def _whitespace(s: SerialRange) -> str:
    return f" {s} "


def _zero_first(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), "0", str(s.last))


def _beyond_max(s: SerialRange) -> str:
    return printed(s.project, str(s.vintage), str(s.batch), str(s.first), str(MAX_SERIAL + 1))


MUTATIONS: dict[str, Mutation] = {
    "leading-zero-batch": _leading_zero_batch,
    "leading-zero-first": _leading_zero_first,
    "leading-zero-last": _leading_zero_last,
    "first-after-last": _first_after_last,
    "missing-project": _missing_project,
    "empty-project": _empty_project,
    "missing-vintage": _missing_vintage,
    "missing-batch": _missing_batch,
    "missing-last": _missing_last,
    "missing-last-after-dash": _missing_last_after_dash,
    "missing-first": _missing_first,
    "uppercase-project": _uppercase_project,
    "uppercase-letter-in-project": _uppercase_letter_in_project,
    "three-digit-vintage": _three_digit_vintage,
    "five-digit-vintage": _five_digit_vintage,
    "zero-padded-vintage": _zero_padded_vintage,
    "negative-batch": _negative_batch,
    "negative-first": _negative_first,
    "negative-last": _negative_last,
    "plus-sign": _plus_sign,
    "extra-component": _extra_component,
    "double-dot": _double_dot,
    "trailing-dot": _trailing_dot,
    "leading-dot": _leading_dot,
    "dot-in-project": _dot_in_project,
    "whitespace": _whitespace,
    "zero-first": _zero_first,
    "beyond-2^53-1": _beyond_max,
}


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
@given(serial=serial_ranges())
def test_malformed_range_is_refused(mutation: Mutation, serial: SerialRange) -> None:
    text = mutation(serial)
    with pytest.raises(SerialFormatError):
        serials.parse(text)


@given(projects, vintages, numbers, numbers, numbers)
def test_first_after_last_is_refused(project: str, vintage: int, batch: int, first: int, last: int) -> None:
    assume(first > last)
    with pytest.raises(SerialFormatError, match="after last"):
        serials.parse(printed(project, str(vintage), str(batch), str(first), str(last)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "perm",
        "perm.2028.1.1",
        "perm.2028.1.1-",
        "perm.2028.01.1-5",
        "perm.2028.1.01-5",
        "perm.2028.1.1-05",
        "perm.2028.1.5-1",
        "Perm.2028.1.1-5",
        "PERM.2028.1.1-5",
        "perm.202.1.1-5",
        "perm.20288.1.1-5",
        "perm.0999.1.1-5",
        "perm.2028.-1.1-5",
        "perm.2028.1.-1-5",
        "perm.2028.1.1--5",
        "perm.2028.1.0-5",
        "perm.2028.0.1-5",
        "perm.2028.1.1-5.",
        "perm..2028.1.1-5",
        "perm.2028.1.1.1-5",
        "-perm.2028.1.1-5",
        "perm-.2028.1.1-5",
        "perm_1.2028.1.1-5",
        "perm.2028.1.1-5\n",
        "perm.２０２８.1.1-5",
        "perm.2028.1.1-9007199254740992",
        "perm.2028.9007199254740992.1-5",
    ],
)
def test_malformed_examples_are_refused(text: str) -> None:
    with pytest.raises(SerialFormatError):
        serials.parse(text)


@pytest.mark.parametrize(
    ("project", "vintage", "batch", "first", "last"),
    [
        ("Perm", 2028, 1, 1, 5),
        ("perm.x", 2028, 1, 1, 5),
        ("perm", 999, 1, 1, 5),
        ("perm", 10000, 1, 1, 5),
        ("perm", 2028, 0, 1, 5),
        ("perm", 2028, 1, 0, 5),
        ("perm", 2028, 1, 5, 4),
        ("perm", 2028, 1, 1, MAX_SERIAL + 1),
        ("perm", 2028, 1, -3, 5),
    ],
)
def test_invalid_ranges_cannot_be_built(project: str, vintage: int, batch: int, first: int, last: int) -> None:
    with pytest.raises(SerialFormatError):
        SerialRange(project, vintage, batch, first, last)


def test_largest_range_round_trips() -> None:
    serial = SerialRange("a", 9999, MAX_SERIAL, 1, MAX_SERIAL)
    assert serials.parse(str(serial)) == serial
    assert serial.quantity == MAX_SERIAL
