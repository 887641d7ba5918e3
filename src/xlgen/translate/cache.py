"""A content-addressed store of translations, so a rerun (or a resumed, interrupted run) translates nothing twice.

Each translation is keyed by a hash of (translator fingerprint, source language, target language, source text); the
fingerprint names the model and every setting that changes its output (see `Translator.fingerprint`). SQLite (in the
standard library) gives atomic, concurrent-safe commits: a killed run keeps every batch it committed, and two
processes may share one cache file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from xlgen.errors import XlgenError


def default_cache_path() -> Path:
    """`$XLGEN_CACHE/translations.sqlite`, else the user cache directory (where the embedded model lives too)."""
    from xlgen.embedded import cache_root

    return cache_root() / "translations.sqlite"


def unit_key(fingerprint: str, src: str, tgt: str, text: str) -> str:
    return hashlib.sha256("\x1f".join((fingerprint, src, tgt, text)).encode("utf-8")).hexdigest()


class TranslationCache:
    def __init__(self, path: str | Path | None = None):
        """`path=None` keeps the cache in memory (nothing survives the process)."""
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(str(self.path), timeout=60)
                self.db.execute("PRAGMA journal_mode=WAL")
            except (OSError, sqlite3.Error) as e:
                raise XlgenError(f"{self.path}: cannot open the translation cache ({e})") from None
        else:
            self.db = sqlite3.connect(":memory:")
        try:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS translations (key TEXT PRIMARY KEY, translator TEXT, src TEXT, tgt TEXT, "
                "source TEXT, target TEXT)"
            )
            self.db.commit()
        except sqlite3.DatabaseError as e:
            raise XlgenError(f"{self.path}: not a translation cache ({e}); remove it or pass another --cache") from None

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):  # SQLite's limit on bound parameters
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT key, target FROM translations WHERE key IN ({marks})", chunk).fetchall())
        return out

    def put_many(self, rows: Iterable[tuple[str, str, str, str, str, str]]) -> None:
        """Rows of (key, translator, src, tgt, source, target), committed together."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?, ?)", list(rows))

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM translations").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def file_fingerprint(path: Path) -> str:
    """Size plus the first and last MiB of a weights file: cheap, and different for differently trained weights."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read())
    return h.hexdigest()[:16]
