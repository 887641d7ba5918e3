"""Reading user files with precise errors, and writing results atomically.

Results are written to a temporary file in the same directory and renamed into place, so a killed process never leaves
a half-written `results.json` or checkpoint behind: readers see either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from xlgen.errors import XlgenError, where


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise XlgenError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise XlgenError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise XlgenError(f"{where(path, e.lineno)}: malformed JSON: {e.msg} (column {e.colno})") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a bad line is an error naming file and line."""
    path = Path(path)
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise XlgenError(f"{path}: no such file") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise XlgenError(f"{where(path, lineno)}: malformed JSON: {e.msg} (column {e.colno})") from None
            except UnicodeDecodeError as e:
                raise XlgenError(f"{where(path, lineno)}: not UTF-8 text ({e.reason})") from None
            if not isinstance(obj, dict):
                raise XlgenError(f"{where(path, lineno)}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def require_field(obj: dict, field: str, path, lineno: int | None, kind: type | tuple = str) -> Any:
    if field not in obj:
        raise XlgenError(f"{where(path, lineno, field)}: missing (the record has: {', '.join(sorted(obj)) or 'nothing'})")
    value = obj[field]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise XlgenError(f"{where(path, lineno, field)}: expected {names}, got {type(value).__name__}")
    return value


def ensure_writable_dir(path: str | Path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".xlgen-probe-", delete=True)
        probe.close()
    except OSError as e:
        raise XlgenError(f"{path}: output directory is not writable ({e.strerror})") from None
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one line and fsync: `metrics.jsonl` is a log, a torn last line is skipped by readers."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl_lenient(path: str | Path) -> list[dict]:
    """Read a log written by `append_jsonl`, skipping a torn final line left by a killed process."""
    rows = []
    if not Path(path).exists():
        return rows
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
