"""Score predictions made by any system against reference files: how users compare xlgen with other systems.

Scored exactly as xlgen's own outputs are: rudiments removed, the task metric, language-correct rate and length.
As in the official SQuAD script, a reference with no prediction scores zero (and is counted in `missing`).
"""

from __future__ import annotations

from pathlib import Path

from xlgen.errors import XlgenError, where
from xlgen.io import iter_jsonl, require_field
from xlgen.languages import normalize_language
from xlgen.metrics import average_length, language_correct_rate, remove_rudiments


def read_predictions(path: str | Path) -> dict[str, str]:
    preds: dict[str, str] = {}
    lines: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        pid = obj.get("id")
        if pid is None:
            require_field(obj, "id", path, lineno)
        pid = str(pid)
        pred = obj.get("prediction")
        if pred is None:
            pred = require_field(obj, "prediction", path, lineno)
        if not isinstance(pred, str):
            raise XlgenError(f"{where(path, lineno, 'prediction')}: expected str, got {type(pred).__name__}")
        if pid in preds:
            raise XlgenError(f"{where(path, lineno, 'id')}: duplicate id {pid!r} (first on line {lines[pid]})")
        preds[pid], lines[pid] = pred, lineno
    if not preds:
        raise XlgenError(f"{path}: no predictions")
    return preds


def read_references(task: str, path: str | Path, lang: str, field: str = "summary", xquad_filter: bool = False) -> dict[str, list[str]]:
    if task == "qa":
        from xlgen.tasks.qa import keep_for_xquad_eval, read_squad_file

        examples = read_squad_file(Path(path), lang)
        if xquad_filter:
            from xlgen.metrics.langid import detect_languages

            detected = detect_languages([ex.references[0] for ex in examples])
            examples = [ex for ex, d in zip(examples, detected) if keep_for_xquad_eval(ex.references, [d], lang)]
        refs = {ex.id: ex.references for ex in examples}
    else:
        refs = {}
        for lineno, obj in iter_jsonl(path):
            rid = str(require_field(obj, "id", path, lineno, (str, int)))
            ref = require_field(obj, field, path, lineno, (str, list))
            refs[rid] = [ref] if isinstance(ref, str) else [str(r) for r in ref]
    if not refs:
        raise XlgenError(f"{path}: no references")
    return refs


def score_files(task: str, lang: str, references: str, predictions: str, *, reference_field: str = "summary", xquad_filter: bool = False) -> dict:
    lang = normalize_language(lang, context="--lang")
    refs = read_references(task, references, lang, reference_field, xquad_filter)
    preds = read_predictions(predictions)
    unknown = [pid for pid in preds if pid not in refs]
    if unknown and not xquad_filter:
        raise XlgenError(f"{predictions}: prediction id {unknown[0]!r} is not in {references} ({len(unknown)} unknown ids)")
    ids = list(refs)
    cleaned = [remove_rudiments(preds.get(i, "")) for i in ids]
    gold = [refs[i] for i in ids]
    if task == "qa":
        from xlgen.metrics.squad import squad_scores

        metrics = squad_scores(cleaned, gold, lang)
    else:
        from xlgen.metrics.rouge import rouge_scores

        metrics = rouge_scores(cleaned, [g[0] for g in gold], lang)
    metrics["lang_correct"] = language_correct_rate(cleaned, lang)
    metrics["avg_length"] = average_length(cleaned)
    metrics["n"] = len(ids)
    metrics["missing"] = sum(1 for i in ids if i not in preds)
    return metrics
