"""The error raised for a file that cannot be read as an export at all.

A file that can be read never raises: each row that cannot be used as published yields a
``RowProblem`` instead (registry.external.records).
"""

from __future__ import annotations


class ExportFormatError(Exception):
    """The file is not an export of ``source`` that can be read: unknown source, not UTF-8, header not recognised.

    ``source`` is the source the caller named, ``reason`` what was wrong with the file.
    """

    code = "export-format"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
