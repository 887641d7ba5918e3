"""Reading user files with precise errors, and writing results atomically.

Readers: `read_text`, `iter_lines`, `read_json`, `iter_jsonl`, `read_yaml`, `iter_conll` (configs, SQuAD JSON, JSONL,
raw text and CoNLL all come through here).

Results are written to a temporary file in the same directory and renamed into place, so a killed process never leaves
a half-written `results.json` or checkpoint behind: readers see either the old file or the new one.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from xlgen.errors import XlgenError, where


# -- reading -------------------------------------------------------------------------------------------------------
#
# Every user file goes through these readers. Written by hand because no library gives what is needed in one place:
# byte-order marks (UTF-8, and UTF-16/32, whose BOM names the encoding) and CRLF accepted, gzip read transparently,
# and every failure (no file, a directory, no permission, another encoding, bad gzip, malformed JSON/YAML/CoNLL) turned
# into one `XlgenError` line naming the file, the line and the field.

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _open_binary(path: Path):
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        fh = open(path, "rb")
        if path.suffix == ".gz":
            fh = gzip.GzipFile(fileobj=fh, mode="rb")
        return fh
    except FileNotFoundError:
        raise XlgenError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise XlgenError(f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise XlgenError(f"{path}: permission denied") from None
    except OSError as e:
        raise XlgenError(f"{path}: cannot read ({e.strerror or e})") from None


def _read_bytes(path: Path) -> bytes:
    fh = _open_binary(path)
    try:
        with fh:
            return fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise XlgenError(f"{path}: not a readable gzip file ({e or 'truncated'})") from None
    except OSError as e:
        raise XlgenError(f"{path}: cannot read ({e.strerror or e})") from None


def _encoding(head: bytes) -> str:
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    return "utf-8"


def _not_utf8(path, data: bytes, e: UnicodeDecodeError, encoding: str, first_line: int = 1) -> XlgenError:
    if encoding.startswith("utf-8"):
        line = first_line + data.count(b"\n", 0, e.start)
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return XlgenError(f"{where(path, line)}: not UTF-8 text (byte 0x{data[e.start]:02x} at column {column}); save the file as UTF-8")
    return XlgenError(f"{path}: not valid {encoding.upper()} text despite its byte-order mark ({e.reason} at byte {e.start})")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def decode_text(data: bytes, source: str | Path) -> str:
    """Bytes from a file or stdin as text: UTF-8 (with or without a BOM) or UTF-16/32 with a BOM, newlines
    normalized to \\n; anything else is an error naming the line."""
    enc = _encoding(data[:4])
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as e:
        raise _not_utf8(source, data, e, enc) from None
    return _normalize_newlines(text)


def read_text(path: str | Path) -> str:
    """A whole text file, decoded as `decode_text` does."""
    path = Path(path)
    return decode_text(_read_bytes(path), path)


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line without its newline) lazily (raw-text corpora are large), under the rules of
    `read_text`: a BOM is dropped, CRLF and CR end lines, an undecodable line is an error naming it."""
    path = Path(path)
    fh = _open_binary(path)
    with fh:
        try:
            head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise XlgenError(f"{path}: not a readable gzip file ({e or 'truncated'})") from None
        enc = _encoding(head)
        if enc in ("utf-16", "utf-32"):  # rare: decode whole, since a byte-level split on \\n would cut characters
            fh.close()
            text = read_text(path)
            parts = text.split("\n")
            yield from enumerate(parts[:-1] if text.endswith("\n") else parts, 1)
            return
        lineno = 0
        try:
            for raw in fh:
                if lineno == 0 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise _not_utf8(path, raw, e, "utf-8", lineno + 1) from None
                line = line[:-1] if line.endswith("\n") else line
                line = line[:-1] if line.endswith("\r") else line
                for part in line.split("\r"):  # one part unless the file ends its lines with CR alone
                    lineno += 1
                    yield lineno, part
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise XlgenError(f"{where(path, lineno + 1)}: not a readable gzip file ({e or 'truncated'})") from None
        except OSError as e:
            raise XlgenError(f"{where(path, lineno + 1)}: cannot read ({e.strerror or e})") from None


def parse_json(text: str, path: str | Path, lineno: int | None = None) -> Any:
    """JSON text from `path` (at `lineno` for a JSONL line); malformed input is an error naming the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        line = e.lineno if lineno is None else lineno
        raise XlgenError(f"{where(path, line)}: malformed JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise XlgenError(f"{where(path, lineno)}: malformed JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise XlgenError(f"{where(path, lineno)}: malformed JSON: {str(e).splitlines()[0]}") from None


def read_json(path: str | Path) -> Any:
    path = Path(path)
    text = read_text(path)
    try:
        return parse_json(text, path)
    except XlgenError as e:
        if _is_jsonl(text):  # JSON's own message ("Extra data" on line 2) does not say what is wrong
            raise XlgenError(f"{e}; the file is JSONL (one JSON object per line), expected one JSON document") from None
        raise


def _is_jsonl(text: str) -> bool:
    lines = [line for line in text.split("\n") if line.strip()][:2]
    try:
        return len(lines) == 2 and all(isinstance(json.loads(line), dict) for line in lines)
    except (ValueError, RecursionError):
        return False


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a bad line is an error naming file and line."""
    path = Path(path)
    first = True
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = parse_json(line, path, lineno)
        except XlgenError as e:
            if first and _is_one_document(path):  # a pretty-printed JSON file (SQuAD JSON) given where JSONL belongs
                raise XlgenError(f"{e}; the file is one JSON document, expected JSONL (one JSON object per line)") from None
            raise
        first = False
        if not isinstance(obj, dict):
            raise XlgenError(f"{where(path, lineno)}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _is_one_document(path: Path) -> bool:
    try:
        json.loads(read_text(path))
    except (ValueError, RecursionError, XlgenError):
        return False
    return True


def read_yaml(path: str | Path) -> Any:
    import yaml

    path = Path(path)
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise XlgenError(f"{where(path, line)}: malformed YAML: {getattr(e, 'problem', None) or str(e).splitlines()[0]}") from None
    except RecursionError:
        raise XlgenError(f"{path}: malformed YAML: nested too deeply") from None


@dataclass
class ConllSentence:
    """One blank-line-separated block of a CoNLL / CoNLL-U file: its token rows split into columns, each row's line
    number (for errors), and the `#` comment lines before it (CoNLL-U's `# sent_id = ...`, without the `#`)."""

    path: Path
    rows: list[list[str]]
    lines: list[int]
    comments: list[str] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.lines[0]

    def where(self, i: int, field_name: str | None = None) -> str:
        """`file:line: field 'name'` of row `i`, for errors about a value."""
        return where(self.path, self.lines[i], field_name)


def iter_conll(path: str | Path, *, columns: int | None = None, sep: str | None = "\t", comment: str | None = "#",
               skip_docstart: bool = True) -> Iterator[ConllSentence]:
    """Sentences of a CoNLL-style file (CoNLL-U: `columns=10`; WikiNEuRal: index, token, tag; MasakhaNER: `sep=None`,
    token and tag split on whitespace). Every row must have `columns` fields (default: as many as the file's first
    row), none empty; `-DOCSTART-` rows are skipped; `comment` lines before a sentence are its comments (pass
    `comment=None` for formats whose first token may be `#`). `.gz` files are read as they are."""
    path = Path(path)
    rows: list[list[str]] = []
    lines: list[int] = []
    comments: list[str] = []
    expected = columns
    for lineno, line in iter_lines(path):
        if not line.strip():
            if rows:
                yield ConllSentence(path, rows, lines, comments)
            rows, lines, comments = [], [], []
            continue
        if comment and line.startswith(comment) and not rows:
            comments.append(line[len(comment):].strip())
            continue
        parts = line.split(sep) if sep is not None else line.split()
        if skip_docstart and "-DOCSTART-" in (p.strip() for p in parts[:2]):
            continue
        if expected is None:
            expected = len(parts)
        if len(parts) != expected:
            kind = "tab-separated" if sep == "\t" else "separated"
            raise XlgenError(f"{where(path, lineno)}: expected {expected} {kind} columns, got {len(parts)}")
        empty = next((i for i, p in enumerate(parts) if not p.strip()), None)
        if empty is not None:
            raise XlgenError(f"{where(path, lineno, f'column {empty + 1}')}: empty")
        rows.append(parts)
        lines.append(lineno)
    if rows:
        yield ConllSentence(path, rows, lines, comments)


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


def ensure_writable_file(path: str | Path) -> Path:
    """Check an output file's place before the work that fills it: not a directory, in a writable directory."""
    path = Path(path)
    if path.is_dir():
        raise XlgenError(f"{path}: is a directory, expected a file to write")
    ensure_writable_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the new one, never a part.
    A failed write (disk full, a directory in the way) removes the temporary file and is an error naming `path`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise XlgenError(f"{path}: cannot write ({e.strerror or e})") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def remove_temporary_files(root: str | Path, recursive: bool = True) -> None:
    """Remove the temporary files `atomic_write_text` leaves when its process is killed before the rename."""
    for p in (Path(root).rglob if recursive else Path(root).glob)(".*.tmp"):
        if p.is_file():
            _remove_quietly(p)


def _remove_quietly(path) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one line and fsync: `metrics.jsonl` is a log, a torn last line is skipped by readers."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:
        raise XlgenError(f"{path}: cannot write ({e.strerror or e})") from None


def read_jsonl_lenient(path: str | Path) -> list[dict]:
    """Read a log written by `append_jsonl`, skipping a torn final line left by a killed process."""
    rows = []
    if not Path(path).exists():
        return rows
    for raw in _read_bytes(Path(path)).split(b"\n"):
        try:  # a line torn by a kill may end inside a character: replaced, then skipped as malformed JSON
            rows.append(json.loads(raw.decode("utf-8", errors="replace")))
        except ValueError:
            continue
    return rows
