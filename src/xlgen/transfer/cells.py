"""The work of one transfer-study cell, run by the study executors (`Job.runner`), each writing `results.json` last.

- `run_transfer_cell`: the paper's measurement. Finetune the *base model* for k steps on unlabelled text in the
  transfer language with the backbone's own objective (a normal `xlgen` run, stage intermediate, in `transfer/`),
  re-attach the unchanged task adapter (and head), evaluate every target. k = 0 is the baseline: the base model and
  the task adapter as trained. The finetuned base model is deleted once evaluated (a 270M model is 1 GB; a study
  makes dozens), unless `keep_model`.
- `run_fusion_cell`: AdapterFusion over a group of language adapters under the frozen task adapter, the fusion trained
  on the source-language task data (a normal run, in `fusion/`), then evaluated on every target.

Both resume: a finished training run inside the cell is not redone, an interrupted one continues from its checkpoint.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from xlgen.config import AdaptationConfig, DatasetSpec, GenerateConfig, ModelConfig, RunConfig, TaskConfig, from_dict
from xlgen.errors import XlgenError
from xlgen.io import append_jsonl, atomic_write_json, atomic_write_jsonl, read_json


def _train(cfg_dict: dict, run_dir: Path, progress: bool) -> dict:
    from xlgen.train import train

    if (run_dir / "results.json").exists():
        return read_json(run_dir / "results.json")
    if (run_dir / "config.yaml").exists() and (run_dir / "checkpoints").exists():
        return train(resume_dir=run_dir, progress=progress)
    shutil.rmtree(run_dir, ignore_errors=True)  # a run killed before its first checkpoint starts over
    return train(from_dict(RunConfig, dict(cfg_dict, output_dir=str(run_dir))), progress=progress)


def load_with_task_adapter(model_cfg: ModelConfig, base: str, task_adapter: str, task, device):
    """Base model (original or transferred) + the task adapter (and head) as trained, active."""
    from xlgen.adaptation.adapters import load_saved_adapter, set_active
    from xlgen.backbones import load_backbone

    backbone = load_backbone(ModelConfig(**{**model_cfg.__dict__, "name": base, "init_from": None}), device)
    backbone.prepare(task)
    load_saved_adapter(backbone.model, backbone.family, task_adapter, "task")
    set_active(backbone.model, "task")
    backbone.model.to(device).eval()
    return backbone


def load_artifact(model_cfg: ModelConfig, artifact: Path, task, device):
    """An adapters artifact on its base model, with the task head built first (encoders) so it can be filled."""
    from xlgen.adaptation import get_method, read_manifest
    from xlgen.backbones import load_backbone

    manifest = read_manifest(artifact)
    if manifest is None:
        raise XlgenError(f"{artifact}: not an xlgen artifact (no xlgen_adaptation.json)")
    backbone = load_backbone(ModelConfig(**{**model_cfg.__dict__, "name": manifest["base_model"], "init_from": None}), device)
    backbone.prepare(task)
    method = get_method(from_dict(AdaptationConfig, manifest["adaptation"]))
    backbone.model = method.load(backbone.model, artifact, backbone.family).to(device).eval()
    return backbone


def per_example_scores(task, rows: list[dict], lang: str) -> None:
    """Add each row's own task score and language verdict, for bootstrap intervals and paired comparisons."""
    from xlgen.metrics import detect_languages, get_metric, same_language

    metric = get_metric(task.metric)
    for r in rows:
        r["score"] = metric.score([r["prediction"]], [r["references"]], lang)[metric.primary]
    for r, d in zip(rows, detect_languages([r["prediction"] for r in rows])):
        r["lang_ok"] = bool(r["prediction"].strip()) and same_language(d, lang)


def evaluate_targets(backbone, task, sets: dict[str, list], gen: GenerateConfig, out: Path, device, progress: bool) -> dict[str, dict]:
    """Score the model on every target: generation tasks by generating (task metric and language-correct rate),
    classification tasks (encoders) by their labels. Predictions with per-example scores go to predictions/."""
    from xlgen.evaluate import evaluate_language
    from xlgen.runtime import resolve_precision

    precision = resolve_precision("auto", torch.device(device))
    results = {}
    for lang, examples in sets.items():
        if getattr(backbone, "predicts_labels", False):
            metrics, rows = backbone.evaluate_labels(backbone.model, examples, task, lang, device=device)
        else:
            metrics, rows = evaluate_language(backbone, backbone.model, examples, task, lang, gen, device=device, precision=precision, desc=f"eval {lang}", progress=progress)
            per_example_scores(task, rows, lang)
        results[lang] = metrics
        atomic_write_jsonl(out / "predictions" / f"{lang}.jsonl", rows)
        append_jsonl(out / "metrics.jsonl", {"lang": lang, **metrics})
    return results


def _eval_sets(task, spec: DatasetSpec, languages: list[str]) -> dict[str, list]:
    return {lang: task.load(spec, lang, evaluation=True) for lang in languages}


def run_transfer_cell(config: dict, run_dir: str | Path, progress: bool = False) -> dict:
    from xlgen.tasks import get_task
    from xlgen.runtime import resolve_device

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "cell.json", config)  # what this cell is, for a reader of the run directory
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    t0 = time.time()
    model_cfg = from_dict(ModelConfig, config["model"])
    task = get_task(from_dict(TaskConfig, config["task"]))
    device = resolve_device(config.get("device", "auto"))
    base, train_results = model_cfg.name, None
    if config["steps"] > 0:
        train_dir = run_dir / "transfer"
        train_results = _train(config["train"], train_dir, progress)
        base = str(train_dir / "model")
        if not Path(base).is_dir():
            raise XlgenError(f"{train_dir}: the transfer run finished but its model was deleted; remove {run_dir} to redo the cell")
    backbone = load_with_task_adapter(model_cfg, base, config["task_adapter"], task, device)
    sets = _eval_sets(task, from_dict(DatasetSpec, config["targets"]), config["target_languages"])
    test = evaluate_targets(backbone, task, sets, from_dict(GenerateConfig, config["generate"]), run_dir, device, progress)
    del backbone
    results = {
        "kind": "transfer" if config["steps"] else "baseline",
        **config["key"],
        "primary_metric": task.primary_metric,
        "test": test,
        "train_loss_last": _last_loss(run_dir / "transfer") if config["steps"] else None,
        "train_time_s": train_results.get("train_time_s") if train_results else 0.0,
        "seconds": time.time() - t0,
    }
    atomic_write_json(run_dir / "results.json", results)
    if config["steps"] and not config.get("keep_model", False):
        shutil.rmtree(run_dir / "transfer" / "model", ignore_errors=True)
    return results


def _last_loss(run_dir: Path) -> float | None:
    from xlgen.io import read_jsonl_lenient

    rows = read_jsonl_lenient(run_dir / "train_log.jsonl")
    return rows[-1]["loss"] if rows else None


def run_fusion_cell(config: dict, run_dir: str | Path, progress: bool = False) -> dict:
    from xlgen.tasks import get_task
    from xlgen.runtime import resolve_device

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "cell.json", config)
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    t0 = time.time()
    train_results = _train(config["train"], run_dir / "fusion", progress)
    model_cfg = from_dict(ModelConfig, config["model"])
    task = get_task(from_dict(TaskConfig, config["task"]))
    device = resolve_device(config.get("device", "auto"))
    backbone = load_artifact(model_cfg, run_dir / "fusion" / "model", task, device)
    sets = _eval_sets(task, from_dict(DatasetSpec, config["targets"]), config["target_languages"])
    test = evaluate_targets(backbone, task, sets, from_dict(GenerateConfig, config["generate"]), run_dir, device, progress)
    results = {"kind": "fusion", **config["key"], "primary_metric": task.primary_metric, "test": test,
               "train_time_s": train_results.get("train_time_s"), "seconds": time.time() - t0}
    atomic_write_json(run_dir / "results.json", results)
    return results
