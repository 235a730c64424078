"""Serial numbers: every tonne has one, and a range of them has a printed form.

The registry numbers units with one registry-wide counter, so a serial names exactly one
tonne. An issuance gets the next contiguous range; transfers, sales and retirements move
sub-ranges of it. The printed form of a range carries enough to read it without a lookup::

    <project>.<vintage>.<batch>.<first>-<last>      e.g.  fi-biochar-1.2028.7.1001-1100

Project ids are lowercase slugs (no dots), the vintage has four digits, and numbers have no
leading zeros or signs, so :func:`parse` accepts exactly what :meth:`SerialRange.__str__`
prints and the two round-trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SERIAL = 2**53 - 1  # every quantity stays an exact JSON integer (RFC 8785 / I-JSON)

SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_NUMBER = r"[1-9][0-9]{0,15}"
_PRINTED = re.compile(rf"({SLUG})\.([0-9]{{4}})\.({_NUMBER})\.({_NUMBER})-({_NUMBER})")


class SerialFormatError(ValueError):
    """A printed serial range that does not parse."""


@dataclass(frozen=True, order=True)
class SerialRange:
    """Units ``first``..``last`` (inclusive) of batch ``batch`` of ``project``'s ``vintage``."""

    project: str
    vintage: int
    batch: int
    first: int
    last: int

    def __post_init__(self) -> None:
        if not re.fullmatch(SLUG, self.project):
            raise SerialFormatError(f"project {self.project!r} is not a lowercase slug")
        if not 1000 <= self.vintage <= 9999:
            raise SerialFormatError(f"vintage {self.vintage} must have four digits")
        if not 1 <= self.batch <= MAX_SERIAL:
            raise SerialFormatError(f"batch {self.batch} must be a positive integer")
        if not 1 <= self.first <= self.last <= MAX_SERIAL:
            raise SerialFormatError(f"range {self.first}-{self.last} must satisfy 1 <= first <= last <= 2^53-1")

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    def sub(self, first: int, last: int) -> SerialRange:
        """The sub-range ``first``..``last`` of the same batch."""
        return SerialRange(self.project, self.vintage, self.batch, first, last)

    def __str__(self) -> str:
        return printed(self.project, self.vintage, self.batch, self.first, self.last)


def printed(project: str, vintage: int, batch: int, first: int, last: int) -> str:
    """The printed form of a range known to be valid (one read from the state), without checking it again."""
    return f"{project}.{vintage}.{batch}.{first}-{last}"


def parse(text: str) -> SerialRange:
    """Parse the printed form; raise :class:`SerialFormatError` saying what is wrong."""
    match = _PRINTED.fullmatch(text)
    if match is None:
        raise SerialFormatError(
            f"{text!r} is not a serial range: expected <project>.<vintage>.<batch>.<first>-<last>, "
            "numbers without leading zeros"
        )
    project, vintage, batch, first, last = match.groups()
    if int(first) > int(last):
        raise SerialFormatError(f"{text!r}: first serial {first} is after last serial {last}")
    return SerialRange(project, int(vintage), int(batch), int(first), int(last))
