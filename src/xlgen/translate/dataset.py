"""`xlgen translate`: a task dataset (SQuAD JSON, JSONL, plain text) from one language into others, sentence by
sentence, with every translated sentence kept in a content-addressed cache (a rerun or a resumed run translates
nothing twice) and a summary of what was translated, reused, and dropped.

    xlgen translate squad.json --from en --to de,zh --translator hf:facebook/nllb-200-3.3B --out data/translated
    -> data/translated/squad.de.json, squad.zh.json, summary.json

QA answers are translated on their own and put back onto a span of the translated paragraph (`qa_align`); a question
none of whose answers can be placed is dropped and counted per language.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from xlgen.errors import XlgenError, where
from xlgen.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, iter_jsonl, read_json
from xlgen.languages import normalize_language
from xlgen.translate.base import Translator, Unit
from xlgen.translate.cache import TranslationCache, unit_key
from xlgen.translate.qa_align import FUZZY_THRESHOLD, align_answer
from xlgen.translate.splitter import joiner

FORMATS = ("squad", "jsonl", "text")


@dataclass
class Translated:
    """A text put together from its translated units; `spans[i]` is where unit i landed, None if untranslatable."""

    text: str | None
    spans: list[tuple[int, int]]


@dataclass
class LanguageSummary:
    lang: str
    records: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    alignment: Counter = field(default_factory=Counter)
    answers_dropped: int = 0
    units: int = 0
    distinct_units: int = 0
    cached: int = 0
    translated: int = 0
    untranslatable_units: int = 0
    source_chars: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}
        d["seconds"] = round(self.seconds, 2)
        return d


class UnitTranslator:
    """Plans texts into units, translates the distinct uncached ones in length-sorted chunks (each chunk committed to
    the cache before the next starts: an interrupted run loses at most one chunk), and puts texts back together."""

    def __init__(self, translator: Translator, cache: TranslationCache, src: str, tgt: str, *, chunk: int = 256, progress: bool = True):
        self.tr, self.cache, self.src, self.tgt = translator, cache, src, tgt
        self.chunk, self.progress = chunk, progress
        self.fp = translator.fingerprint()
        self.plans: dict[tuple[str, bool], list[Unit]] = {}
        self.done: dict[str, str | None] = {}

    def plan(self, text: str, *, whole: bool = False) -> list[Unit]:
        """Units of `text`; `whole` keeps it as one unit (QA answers: short spans, not sentences)."""
        key = (text, whole)
        if key not in self.plans:
            stripped = text.strip()
            lead = len(text) - len(text.lstrip())
            self.plans[key] = ([Unit(stripped, lead, lead + len(stripped))] if stripped else []) if whole else self.tr.units(text, self.src, self.tgt)
        return self.plans[key]

    def run(self, summary: LanguageSummary) -> None:
        units = [u.text for plan in self.plans.values() for u in plan]
        distinct = list(dict.fromkeys(units))
        summary.units, summary.distinct_units = len(units), len(distinct)
        summary.source_chars = sum(len(t) for t in distinct)
        keys = {t: unit_key(self.fp, self.src, self.tgt, t) for t in distinct}
        cached = self.cache.get_many(keys.values()) if self.tr.cacheable else {}
        self.done = {t: cached[keys[t]] for t in distinct if keys[t] in cached}
        summary.cached = len(self.done)
        todo = sorted((t for t in distinct if t not in self.done), key=len)
        bar = tqdm(total=len(todo), desc=f"translate {self.src}->{self.tgt}", unit="sent", disable=not self.progress or not todo)
        for i in range(0, len(todo), self.chunk):
            batch = todo[i : i + self.chunk]
            out = self.tr.translate(batch, self.src, self.tgt)
            rows = [(keys[t], self.fp, self.src, self.tgt, t, o) for t, o in zip(batch, out) if o is not None]
            if rows and self.tr.cacheable:
                self.cache.put_many(rows)
            self.done.update(zip(batch, out))
            summary.translated += len(rows)
            summary.untranslatable_units += len(batch) - len(rows)
            bar.update(len(batch))
        bar.close()

    def get(self, text: str, *, whole: bool = False) -> Translated:
        units = self.plan(text, whole=whole)
        parts, spans, pos = [], [], 0
        for i, u in enumerate(units):
            out = self.done.get(u.text)
            if out is None:
                return Translated(None, [])
            if i:
                gap = text[units[i - 1].end : u.start]
                sep = "\n" * gap.count("\n") if "\n" in gap else joiner(self.tgt)
                parts.append(sep)
                pos += len(sep)
            parts.append(out)
            spans.append((pos, pos + len(out)))
            pos += len(out)
        return Translated("".join(parts), spans)


# ---- formats ----------------------------------------------------------------------------------------------------------


def _squad_paragraphs(doc, path):
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise XlgenError(f"{where(path, field='data')}: not SQuAD JSON (expected an object with a 'data' list)")
    for i, article in enumerate(doc["data"]):
        for j, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else []):
            loc = f"data[{i}].paragraphs[{j}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise XlgenError(f"{where(path, field=loc + '.context')}: missing or not a string")
            for k, qa in enumerate(para.get("qas", [])):
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise XlgenError(f"{where(path, field=f'{loc}.qas[{k}].question')}: missing or not a string")
                answers = qa.get("answers", [])
                if not isinstance(answers, list) or any(not isinstance(a, dict) or not isinstance(a.get("text"), str) for a in answers):
                    raise XlgenError(f"{where(path, field=f'{loc}.qas[{k}].answers')}: expected a list of {{'text': ...}} objects")
            yield article, para


def _source_span(context: str, answer: dict) -> tuple[int, int] | None:
    text, start = answer["text"], answer.get("answer_start")
    if not isinstance(start, int) or context[start : start + len(text)] != text:
        start = context.find(text)
    return (start, start + len(text)) if start >= 0 and text else None


def _hint(units: list[Unit], spans: list[tuple[int, int]], source: tuple[int, int] | None) -> tuple[tuple[int, int] | None, float | None]:
    """The translated span of the unit(s) that held the answer in the source paragraph, and the answer's relative
    position within them carried over to that span."""
    if source is None or not spans:
        return None, None
    hit = [i for i, u in enumerate(units) if u.start < source[1] and source[0] < u.end]
    if not hit:
        return None, None
    lo, hi = spans[hit[0]][0], spans[hit[-1]][1]
    s_lo, s_hi = units[hit[0]].start, units[hit[-1]].end
    rel = (source[0] - s_lo) / max(s_hi - s_lo, 1)
    return (lo, hi), lo + rel * (hi - lo)


def translate_squad(doc: dict, path, ut: UnitTranslator, s: LanguageSummary, max_examples: int | None, threshold: float) -> dict:
    paras = list(_squad_paragraphs(doc, path))
    if max_examples is not None:
        paras, n = [], 0
        for article, para in _squad_paragraphs(doc, path):
            if n >= max_examples:
                break
            paras.append((article, para))
            n += len(para.get("qas", []))
    for _, para in paras:
        ut.plan(para["context"])
        for qa in para.get("qas", []):
            ut.plan(qa["question"])
            for a in qa.get("answers", []):
                ut.plan(a["text"], whole=True)
    ut.run(s)
    articles: dict[int, dict] = {}
    for article, para in paras:
        ctx = ut.get(para["context"])
        qas = []
        for qa in para.get("qas", []):
            s.records += 1
            q = ut.get(qa["question"])
            if ctx.text is None or q.text is None:
                s.dropped["untranslated"] += 1
                continue
            answers, units = [], ut.plan(para["context"])
            for a in qa.get("answers", []):
                tr = ut.get(a["text"], whole=True)
                src_span = _source_span(para["context"], a)
                hint, anchor = _hint(units, ctx.spans, src_span)
                found = align_answer(ctx.text, tr.text, source_answer=a["text"], hint=hint, anchor=anchor, threshold=threshold) if tr.text else None
                if found is None:
                    s.answers_dropped += 1
                    continue
                s.alignment[found.method] += 1
                answers.append({"text": found.text, "answer_start": found.start})
            if not answers and qa.get("answers"):
                s.dropped["answer_unalignable"] += 1
                continue
            s.kept += 1
            qas.append({**{k: v for k, v in qa.items() if k not in ("question", "answers")}, "question": q.text, "answers": answers})
        if qas:
            out = articles.setdefault(id(article), {**{k: v for k, v in article.items() if k != "paragraphs"}, "paragraphs": []})
            out["paragraphs"].append({**{k: v for k, v in para.items() if k not in ("context", "qas")}, "context": ctx.text, "qas": qas})
    return {**{k: v for k, v in doc.items() if k != "data"}, "data": list(articles.values())}


def translate_jsonl(path: Path, fields: list[str], ut: UnitTranslator, s: LanguageSummary, max_examples: int | None) -> list[dict]:
    if not fields:
        raise XlgenError(f"{path}: give --fields, the JSONL fields to translate (e.g. --fields text,summary)")
    records = []
    for lineno, obj in iter_jsonl(path):
        if max_examples is not None and len(records) >= max_examples:
            break
        for f in fields:
            value = obj.get(f)
            if not isinstance(value, (str, list)) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
                raise XlgenError(f"{where(path, lineno, f)}: expected a string (or a list of strings), got {type(value).__name__ if f in obj else 'nothing'}")
            for v in [value] if isinstance(value, str) else value:
                ut.plan(v)
        records.append(obj)
    ut.run(s)
    out = []
    for obj in records:
        s.records += 1
        new, ok = dict(obj), True
        for f in fields:
            values = [ut.get(v).text for v in ([obj[f]] if isinstance(obj[f], str) else obj[f])]
            ok &= all(v is not None for v in values)
            new[f] = values[0] if isinstance(obj[f], str) else values
        if not ok:
            s.dropped["untranslated"] += 1
            continue
        s.kept += 1
        out.append(new)
    return out


def translate_text(path: Path, ut: UnitTranslator, s: LanguageSummary, max_examples: int | None) -> list[str]:
    from xlgen.io import iter_lines

    lines = [line for _, line in iter_lines(path)][:max_examples]
    for line in lines:
        ut.plan(line)
    ut.run(s)
    out = []
    for line in lines:
        s.records += 1
        t = ut.get(line).text
        if t is None:
            s.dropped["untranslated"] += 1  # left empty so the output stays line-aligned with the input
        else:
            s.kept += 1
        out.append(t or "")
    return out


# ---- driver -----------------------------------------------------------------------------------------------------------


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise XlgenError(f"--format: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
        return fmt
    return {".json": "squad", ".jsonl": "jsonl"}.get(path.suffix, "text")


def output_path(input_path: Path, out: str, lang: str, src: str = "") -> Path:
    """`out` with {lang} is a file pattern; otherwise a directory that gets INPUT_STEM.LANG.SUFFIX, where a source
    language tag ending the stem is replaced (xquad.en.json -> xquad.de.json)."""
    if "{lang}" in out:
        return Path(out.replace("{lang}", lang))
    stem = input_path.stem
    if src and stem.endswith("." + src):
        stem = stem[: -len(src) - 1]
    return Path(out) / f"{stem}.{lang}{input_path.suffix}"


def translate_dataset(input_path: str | Path, *, src: str, tgts: list[str], translator: Translator, out: str, fmt: str | None = None,
                      fields: list[str] | None = None, cache: TranslationCache | None = None, max_examples: int | None = None,
                      threshold: float = FUZZY_THRESHOLD, chunk: int = 256, progress: bool = True) -> dict:
    path = Path(input_path)
    if not path.is_file():
        raise XlgenError(f"{path}: no such input file")
    fmt = detect_format(path, fmt)
    src = normalize_language(src, context="--from")
    tgts = [normalize_language(t, context="--to") for t in tgts]
    if not tgts:
        raise XlgenError("--to: give at least one target language")
    for tgt in tgts:
        translator.check_languages(src, tgt)
    cache = cache if cache is not None else TranslationCache(None)
    doc = read_json(path) if fmt == "squad" else None
    summaries = {}
    for tgt in tgts:
        t0 = time.perf_counter()
        s = LanguageSummary(tgt)
        ut = UnitTranslator(translator, cache, src, tgt, chunk=chunk, progress=progress)
        dest = output_path(path, out, tgt, src)
        if fmt == "squad":
            atomic_write_json(dest, translate_squad(doc, path, ut, s, max_examples, threshold))
        elif fmt == "jsonl":
            atomic_write_jsonl(dest, translate_jsonl(path, fields or [], ut, s, max_examples))
        else:
            atomic_write_text(dest, "".join(line + "\n" for line in translate_text(path, ut, s, max_examples)))
        s.seconds = time.perf_counter() - t0
        summaries[tgt] = {**s.to_dict(), "output": str(dest)}
    report = {
        "input": str(path), "format": fmt, "source_language": src, "translator": translator.fingerprint(),
        "fuzzy_threshold": threshold, "cache": str(cache.path) if cache.path else None, "languages": summaries,
    }
    stats = getattr(translator, "stats", None)
    if stats:
        report["corpus"] = {f"{a}-{b}": v for (a, b), v in stats.items()}
    summary_path = Path(out.replace("{lang}", "summary")).with_suffix(".json") if "{lang}" in out else Path(out) / "summary.json"
    previous = read_json(summary_path) if summary_path.exists() else {}
    if isinstance(previous, dict) and previous.get("input") == report["input"]:
        report["languages"] = {**previous.get("languages", {}), **summaries}
    atomic_write_json(summary_path, report)
    report["summary_path"] = str(summary_path)
    report["this_run"] = list(summaries)  # summary.json keeps earlier runs' languages too
    return report


def format_summary(report: dict) -> str:
    """A table a person reads at the end of a run."""
    qa = report["format"] == "squad"
    head = f"{'lang':<6}{'records':>8}{'kept':>8}{'dropped':>9}{'units':>8}{'cached':>8}{'new':>8}{'s':>8}"
    head += f"  {'alignment (exact / exact-source / fuzzy)':<40}" if qa else ""
    lines = [f"translated {report['input']} ({report['format']}, from {report['source_language']}) with {report['translator']}", head]
    for lang in report.get("this_run", report["languages"]):
        s = report["languages"][lang]
        row = f"{lang:<6}{s['records']:>8}{s['kept']:>8}{sum(s['dropped'].values()):>9}{s['distinct_units']:>8}{s['cached']:>8}{s['translated']:>8}{s['seconds']:>8.1f}"
        if qa:
            a = s["alignment"]
            row += f"  {a.get('exact', 0)} / {a.get('exact-source', 0)} / {a.get('fuzzy', 0)}; answers dropped {s['answers_dropped']}"
            row += f"; questions dropped {dict(s['dropped'])}" if s["dropped"] else ""
        lines.append(row)
    return "\n".join(lines)
