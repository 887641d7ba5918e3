"""User-facing errors.

Anything the user can fix (a malformed file, an unknown language, an empty dataset) raises `XlgenError`; the CLI prints
its message on one line and exits with code 2, with no traceback unless `--debug` is given. Messages name the file,
line and field so the fix is obvious without reading code.
"""

from __future__ import annotations


class XlgenError(Exception):
    """An error caused by input the user controls: config, data files, language codes, paths."""


def where(path, line: int | None = None, field: str | None = None) -> str:
    """Format a location prefix such as `data.jsonl:12: field 'target'`."""
    loc = str(path)
    if line is not None:
        loc += f":{line}"
    if field is not None:
        loc += f": field '{field}'"
    return loc
