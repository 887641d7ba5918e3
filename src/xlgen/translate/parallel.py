"""A translator that looks translations up in parallel corpora instead of computing them.

It serves two purposes: tests of the whole translation pipeline on real human translations (FLORES-200, NTREX-128,
UD PUD, Tatoeba, XQuAD's parallel paragraphs in the shared data), and users who already have translations of their
data. `--translator parallel:SPEC[+SPEC...]`, where each SPEC is

* a named corpus of the shared data directory: `flores`, `ntrex`, `pud`, `tatoeba`, `xquad`;
* a TSV file whose header names languages (`en<TAB>de<TAB>zh`; other columns such as `id` are ignored);
* line-aligned text files, a pattern with `{lang}` (`corpus.{lang}.txt`); `*` matches anything and `{group}` marks
  files that align only within a group (Tatoeba's `tatoeba.{group}.{lang}`: one pair of files per language pair);
* SQuAD JSON files, a pattern with `{lang}` ending in `.json`, aligned by structure (XQuAD): the i-th paragraph of
  one language is the translation of the i-th of the other, questions and answers are matched by question id.

Lookups ignore whitespace (so joining conventions of scripts do not matter). A source text is covered by the
shortest known segments: its sentences when the corpus holds them, runs of sentences (a FLORES item can hold two),
else the whole text (a paragraph). Paragraph pairs are also aligned sentence by sentence where that is safe: both
sides split into the same number of sentences and every sentence pair has a length ratio within a factor of
`SENTENCE_RATIO_SLACK` of the paragraph's ratio; otherwise only the paragraph-level entry exists (see `stats`).
"""

from __future__ import annotations

import csv
import glob
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.io import iter_lines
from xlgen.languages import normalize_language, same_language
from xlgen.translate.base import Translator, Unit, register_translator, sentence_units
from xlgen.translate.splitter import split_units

NAMED = {
    "flores": "flores200_via_sib200/flores200_sib_parallel_13lang.tsv",
    "pud": "ud_pud_parallel/pud_parallel_11lang.tsv",
    "ntrex": "ntrex128/newstest2019-*.{lang}.txt",
    "tatoeba": "tatoeba_laser/tatoeba.{group}.{lang}",
    "xquad": "xquad/xquad.{lang}.json",
}
SENTENCE_RATIO_SLACK = 2.0
_NOT_LANGUAGE_COLUMNS = {"id"}  # "id" parses as Indonesian, but in a header it is an identifier


def lookup_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFC", text).split())


@dataclass
class Row:
    """One aligned item: its text per language (tags as written in the corpus) and what kind of item it is."""

    texts: dict[str, str]
    kind: str = "sentence"  # sentence | paragraph | question | answer


@dataclass
class Corpus:
    name: str
    rows: list[Row] = field(default_factory=list)


def _lang_tag(raw: str) -> str | None:
    if raw.lower() in _NOT_LANGUAGE_COLUMNS:
        return None
    try:
        return normalize_language(raw)
    except XlgenError:
        return None


def read_tsv(path: Path) -> Corpus:
    reader = csv.DictReader((line for _, line in iter_lines(path)), delimiter="\t", quoting=csv.QUOTE_NONE)
    langs = {col: tag for col in reader.fieldnames or [] if (tag := _lang_tag(col))}
    if len(langs) < 2:
        raise XlgenError(f"{path}: a parallel TSV needs a header with at least two language columns (got {reader.fieldnames})")
    rows = [Row({langs[c]: r[c].strip() for c in langs if r.get(c) and r[c].strip()}) for r in reader]
    return Corpus(str(path), rows)


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(\{lang\}|\{group\}|\*)", pattern)
    rx = "".join({"{lang}": r"(?P<lang>[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)", "{group}": r"(?P<group>.+?)", "*": r".*?"}.get(p, re.escape(p)) for p in parts)
    return re.compile(rx + r"\Z")


def _pattern_files(pattern: str) -> dict[str, dict[str, Path]]:
    """group -> language tag -> file, for a pattern with {lang} (and optionally {group} and *)."""
    if "{lang}" not in pattern:
        raise XlgenError(f"{pattern}: a parallel corpus pattern needs {{lang}} (e.g. corpus.{{lang}}.txt)")
    rx = _pattern_regex(pattern)
    found: dict[str, dict[str, Path]] = {}
    for name in sorted(glob.glob(pattern.replace("{lang}", "*").replace("{group}", "*"))):
        m = rx.match(name)
        tag = _lang_tag(m.group("lang")) if m else None
        if tag is None:
            continue
        group = m.groupdict().get("group") or ""
        if tag in found.setdefault(group, {}):
            raise XlgenError(f"{pattern}: two files for language {tag!r}: {found[group][tag]} and {name}")
        found[group][tag] = Path(name)
    if not found:
        raise XlgenError(f"{pattern}: no files match")
    return found


def read_line_aligned(pattern: str) -> Corpus:
    rows: list[Row] = []
    for group, files in _pattern_files(pattern).items():
        lines = {tag: [line for _, line in iter_lines(p)] for tag, p in files.items()}
        counts = {tag: len(v) for tag, v in lines.items()}
        if len(set(counts.values())) > 1:
            raise XlgenError(f"{pattern}: files of group {group!r} are not line-aligned (line counts {counts})")
        n = next(iter(counts.values()))
        rows += [Row({tag: v[i].strip() for tag, v in lines.items() if v[i].strip()}) for i in range(n)]
    return Corpus(pattern, rows)


def read_squad_parallel(pattern: str) -> Corpus:
    """XQuAD-style SQuAD JSON in several languages: paragraphs aligned by position, questions and answers by id."""
    from xlgen.io import read_json

    paragraphs: dict[tuple, dict[str, str]] = {}
    questions: dict[str, dict[str, str]] = {}
    answers: dict[tuple, dict[str, str]] = {}
    for files in _pattern_files(pattern).values():
        for tag, path in files.items():
            doc = read_json(path)
            for i, article in enumerate(doc.get("data", []) if isinstance(doc, dict) else []):
                for j, para in enumerate(article.get("paragraphs", [])):
                    paragraphs.setdefault((i, j), {})[tag] = para.get("context", "").strip()
                    for qa in para.get("qas", []):
                        qid = str(qa.get("id"))
                        questions.setdefault(qid, {})[tag] = qa.get("question", "").strip()
                        for k, a in enumerate(qa.get("answers", [])):
                            answers.setdefault((qid, k), {})[tag] = a.get("text", "").strip()
    rows = [Row(t, "paragraph") for t in paragraphs.values()]
    rows += [Row(t, "question") for t in questions.values()]
    rows += [Row(t, "answer") for t in answers.values()]
    return Corpus(pattern, rows)


def load_corpus(spec: str) -> Corpus:
    from xlgen.config import expand_path

    path = expand_path("${XLGEN_DATA}/" + NAMED[spec] if spec in NAMED else spec)  # {lang} stays: no language given
    if "{lang}" in path:
        if path.endswith(".json"):
            return read_squad_parallel(path)
        return read_line_aligned(path)
    if not Path(path).is_file():
        raise XlgenError(f"{path}: no such parallel corpus (give a named corpus {sorted(NAMED)}, a TSV, or a pattern with {{lang}})")
    return read_tsv(Path(path))


def _pick(texts: dict[str, str], lang: str) -> str | None:
    for tag, text in texts.items():
        if same_language(tag, lang):
            return text
    return None


def align_sentences(src: str, tgt: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]] | None:
    """Sentence pairs of a translated paragraph, or None when the 1:1 alignment is not safe (different sentence
    counts, or a pair whose length ratio strays more than SENTENCE_RATIO_SLACK from the paragraph's)."""
    a, b = split_units(src, src_lang), split_units(tgt, tgt_lang)
    if len(a) != len(b) or not a:
        return None
    if len(a) == 1:
        return [(a[0], b[0])]
    ratio = len(tgt) / max(len(src), 1)
    for x, y in zip(a, b):
        r = len(y) / max(len(x), 1) / max(ratio, 1e-9)
        if not 1 / SENTENCE_RATIO_SLACK <= r <= SENTENCE_RATIO_SLACK:
            return None
    return list(zip(a, b))


@register_translator("parallel")
class ParallelTranslator(Translator):
    cacheable = False  # a lookup costs less than the cache's own

    def __init__(self, target: str, **_):
        self.spec = target
        self.corpora = [load_corpus(s) for s in target.split("+") if s]
        if not self.corpora:
            raise XlgenError(f"--translator parallel:{target}: no corpus named")
        self._index: dict[tuple[str, str], dict[str, str]] = {}
        self.stats: dict[tuple[str, str], dict] = {}

    def fingerprint(self) -> str:
        return f"parallel|{self.spec}"

    def index(self, src: str, tgt: str) -> dict[str, str]:
        """Source lookup key -> target text for one language pair (built on first use)."""
        pair = (src, tgt)
        if pair in self._index:
            return self._index[pair]
        index: dict[str, str] = {}
        stats = Counter()
        for corpus in self.corpora:
            for row in corpus.rows:
                s, t = _pick(row.texts, src), _pick(row.texts, tgt)
                if not s or not t:
                    continue
                pairs = [(s, t)]
                if row.kind == "paragraph":
                    sentences = align_sentences(s, t, src, tgt)
                    stats["paragraphs"] += 1
                    stats["paragraphs_sentence_aligned"] += sentences is not None
                    pairs += sentences or []
                stats[f"{row.kind}_pairs"] += 1
                for a, b in pairs:
                    key = lookup_key(a)
                    if key in index and index[key] != b:
                        stats["conflicts"] += 1  # the same source text translated differently; the first is kept
                        continue
                    index[key] = b
        if not index:
            names = ", ".join(c.name for c in self.corpora)
            raise XlgenError(f"parallel:{self.spec}: no {src}-{tgt} pairs in {names}")
        stats["entries"] = len(index)
        self._index[pair], self.stats[pair] = index, dict(stats)
        return index

    def check_languages(self, src: str, tgt: str) -> None:
        self.index(src, tgt)

    def units(self, text: str, src: str, tgt: str) -> list[Unit]:
        index = self.index(src, tgt)
        sents = sentence_units(text, src)
        if not sents:
            return []

        def span(i: int, j: int) -> Unit:
            return Unit(text[sents[i].start : sents[j - 1].end], sents[i].start, sents[j - 1].end)

        out, i, missed = [], 0, False
        while i < len(sents):
            for j in range(i + 1, len(sents) + 1):  # the shortest known run of sentences first
                if lookup_key(span(i, j).text) in index:
                    out.append(span(i, j))
                    i = j
                    break
            else:
                out.append(sents[i])
                missed = True
                i += 1
        if missed and lookup_key(text) in index:  # a paragraph known only as a whole
            return [span(0, len(sents))]
        return out

    def translate(self, texts: list[str], src: str, tgt: str) -> list[str | None]:
        index = self.index(src, tgt)
        return [index.get(lookup_key(t)) for t in texts]
