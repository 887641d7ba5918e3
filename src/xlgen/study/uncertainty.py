"""Intervals for what a study report shows and compares, from the per-example scores each run keeps beside its
predictions (`scores` in predictions/<lang>.jsonl and predictions/dev-stepN/<lang>.jsonl; see xlgen.metrics.rows).

- `average(runs, ...)`: a target-language average with its 95% interval; several runs (seeds) are averaged per
  example first, so the interval is over examples of the seed mean.
- `difference(runs_a, runs_b, ...)`: a paired difference of target-language averages on the examples both evaluated
  (Table 1: IT - no IT, method - full finetuning, LR vs LR in the protocol's decisions), marked when it includes 0.

Runs written before per-example scores existed give None, and the report shows plain numbers for them.
"""

from __future__ import annotations

import functools
from pathlib import Path

from xlgen.metrics.bootstrap import Interval, average_interval, paired_average_difference

# Per-example keys of the profile-independent metrics (the rows' `lang_correct`, `avg_length`).
_PLAIN = {"lang_correct": "lang_correct", "avg_length": "length"}


@functools.lru_cache(maxsize=512)
def _read(path: str, mtime: float) -> dict[str, dict]:
    from xlgen.io import iter_jsonl

    out = {}
    for _, row in iter_jsonl(path):
        if "scores" in row:
            out[str(row["id"])] = row["scores"]
    return out


def example_scores(run_dir: str | Path, lang: str, split: str = "test", step: int | None = None) -> dict[str, dict] | None:
    """{example id: its scores} for one language of a run, None when the run kept none."""
    sub = Path(run_dir) / "predictions" / ("" if split == "test" else f"dev-step{step}")
    path = sub / f"{lang}.jsonl"
    if not path.is_file():
        return None
    scores = _read(str(path), path.stat().st_mtime)
    return scores or None


def values(scores: dict[str, dict], metric: str, profile: str | None) -> dict[str, float]:
    """One metric per example: a task metric under `profile`, or lang_correct / avg_length (per-example length)."""
    if metric in _PLAIN:
        return {i: float(s[_PLAIN[metric]]) for i, s in scores.items()}
    return {i: float(s[profile][metric]) for i, s in scores.items() if profile in s and metric in s[profile]}


def _per_language(runs: list, langs: list[str], metric: str, profile: str | None, split: str) -> dict[str, dict[str, float]] | None:
    """Per language, the per-example metric averaged over `runs` (seeds) on the examples every run scored."""
    out = {}
    for lang in langs:
        per_run = []
        for r in runs:
            step = (r.results or {}).get("steps") if split != "test" else None
            s = example_scores(r.dir, lang, split, step)
            if s is None:
                return None
            per_run.append(values(s, metric, profile))
        ids = sorted(set.intersection(*(set(v) for v in per_run))) if per_run else []
        if not ids:
            return None
        out[lang] = {i: sum(v[i] for v in per_run) / len(per_run) for i in ids}
    return out


def average(runs: list, langs: list[str], metric: str, profile: str | None, split: str = "test") -> Interval | None:
    if not runs or not langs:
        return None
    per = _per_language(runs, langs, metric, profile, split)
    if per is None:
        return None
    return average_interval({lang: list(v.values()) for lang, v in per.items()})


def language(runs: list, lang: str, metric: str, profile: str | None, split: str = "test") -> Interval | None:
    return average(runs, [lang], metric, profile, split)


def difference(runs_a: list, runs_b: list, langs: list[str], metric: str, profile: str | None, split: str = "test") -> Interval | None:
    """Paired bootstrap of (average of a) - (average of b) over the examples both sides scored, per language."""
    if not runs_a or not runs_b or not langs:
        return None
    a = _per_language(runs_a, langs, metric, profile, split)
    b = _per_language(runs_b, langs, metric, profile, split)
    if a is None or b is None:
        return None
    xa, xb = {}, {}
    for lang in langs:
        ids = sorted(set(a[lang]) & set(b[lang]))
        if not ids:
            return None
        xa[lang] = [a[lang][i] for i in ids]
        xb[lang] = [b[lang][i] for i in ids]
    return paired_average_difference(xa, xb)


def empty_share(run, langs: list[str], split: str = "test") -> float | None:
    """The share of empty outputs over `langs`: a run that collapsed to empty answers scores 0 on every metric, LCR
    included, and a reader of its numbers alone cannot tell that from wrong answers. Per-example lengths where the run
    kept them; else only the all-empty case is known (every language's avg_length is 0)."""
    if not langs:
        return None
    per = _per_language([run], langs, "avg_length", None, split)
    if per is not None:
        lengths = [v for d in per.values() for v in d.values()]
        return sum(1 for v in lengths if v == 0) / len(lengths) if lengths else None
    block = (run.results or {}).get("dev_last" if split == "dev" else "test") or {}
    avg = [block.get(lang, {}).get("avg_length") for lang in langs]
    if any(a is None for a in avg):
        return None
    return 1.0 if all(a == 0 for a in avg) else None


def fmt(iv: Interval | None, digits: int = 2) -> str:
    return "n/a" if iv is None else f"[{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def fmt_diff(iv: Interval | None, digits: int = 2) -> str:
    """A signed difference with its interval, marked "(within noise)" when the interval includes 0."""
    if iv is None:
        return "n/a"
    text = f"{iv.estimate:+.{digits}f} [{iv.low:+.{digits}f}, {iv.high:+.{digits}f}]"
    return text + (" (within noise)" if iv.includes(0.0) else "")


def annotate_decisions(decisions: list[dict], lookup, metric_for, profile: str | None, sources, split: str = "dev") -> list[dict]:
    """Add to every decision that chose a setting, for each other eligible candidate, the paired difference
    chosen - candidate of the selection metric on the selection split, and `within_noise`: the candidates whose
    difference interval includes 0 (the data cannot tell them from the choice), and `empty_outputs`: each finished
    candidate's share of empty outputs on the selection split, where known. `lookup(run name)` returns an object
    with `.dir` and `.results` (or None); `metric_for(task)` the selection metric's name."""
    out = []
    for d in decisions:
        d = dict(d)
        empty = {}
        for cand in d["candidates"]:
            run = lookup(cand["run"]) if cand.get("status") == "done" else None
            if run is not None:
                block = (run.results or {}).get("dev_last" if split == "dev" else "test") or {}
                share = empty_share(run, [lang for lang in block if lang not in sources], split)
                if share is not None:
                    empty[cand["run"]] = share
        d["empty_outputs"] = empty
        chosen = d.get("chosen")
        metric = metric_for(d["task"])
        if chosen is None or not metric:
            out.append(d)
            continue
        c_name = next((c["run"] for c in d["candidates"] if c["lr"] == chosen["lr"] and c["it"] == chosen["it"]), None)
        c_run = lookup(c_name) if c_name else None
        comparisons, noise = {}, []
        for cand in d["candidates"]:
            if cand["run"] == c_name or not cand.get("eligible"):
                continue
            other = lookup(cand["run"])
            iv = None
            if c_run is not None and other is not None:
                block = (c_run.results or {}).get("dev_last" if split == "dev" else "test") or {}
                langs = [lang for lang in block if lang not in sources]
                iv = difference([c_run], [other], langs, metric, profile, split)
            if iv is not None:
                comparisons[cand["run"]] = {"difference": iv.estimate, "ci": iv.to_list()}
                if iv.includes(0.0):
                    noise.append(cand["run"])
        d["paired_vs_chosen"] = comparisons
        d["within_noise"] = noise
        out.append(d)
    return out
