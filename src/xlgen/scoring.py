"""Score predictions made by any system against reference files: how users compare xlgen with other systems.

Scored exactly as xlgen's own outputs are, by the task itself (`Task.read_references`, `Task.score`): rudiments
removed, the task metric, language-correct rate and length.
As in the official SQuAD script, a reference with no prediction scores zero (and is counted in `missing`).
"""

from __future__ import annotations

from pathlib import Path

from xlgen.config import TaskConfig
from xlgen.errors import XlgenError, where
from xlgen.io import iter_jsonl, require_field
from xlgen.languages import normalize_language
from xlgen.metrics import remove_rudiments
from xlgen.tasks import get_task


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


def score_files(task_cfg: TaskConfig, lang: str, references: str, predictions: str) -> dict:
    """`xlgen score`: the task reads its references and scores; predictions are cleaned as xlgen's own outputs are.
    Returns the metrics row of `xlgen.metrics.rows` (both profiles, 95% intervals, the language-ID model named; the
    top-level task metrics are those of `task_cfg.metric_profile`) plus `missing`."""
    from xlgen.metrics.langid import resolve_model

    lang = normalize_language(lang, context="--lang")
    resolve_model(task_cfg.langid_model)  # a missing language-ID model is an error before anything is read
    task = get_task(task_cfg)
    refs = task.read_references(Path(references), lang)
    if not refs:
        raise XlgenError(f"{references}: no references")
    preds = read_predictions(predictions)
    unknown = [pid for pid in preds if pid not in refs]
    if unknown and not getattr(task_cfg, "xquad_filter", False):
        raise XlgenError(f"{predictions}: prediction id {unknown[0]!r} is not in {references} ({len(unknown)} unknown ids)")
    ids = list(refs)
    metrics = task.score([remove_rudiments(preds.get(i, "")) for i in ids], [refs[i] for i in ids], lang)
    metrics["missing"] = sum(1 for i in ids if i not in preds)
    return metrics
