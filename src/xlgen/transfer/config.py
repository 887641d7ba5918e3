"""A transfer-language study (arXiv 2403.20088): one YAML file, typed.

    name: transfer-cpu-small
    base: ../demo.yaml                      # run config every run starts from: model, task, English task data
    overrides: {train.max_tokens: 800}      # applied to every run (dotted keys)
    task_adapter: {train.steps: 40, train.lr: 1.0e-3}   # the task adapter, trained once on the source language
    transfer:
      languages: [de, ru, zh, vi]
      raw: {path: "${XLGEN_DATA}/ud_monolingual_text/ud_text.{lang}.txt", max_lines: 300}
      steps: [1, 10, 100]                   # each k is its own run from the base model
      overrides: {train.lr: 1.0e-5}
    targets:
      languages: [de, es, ru, zh, th]
      data: {path: "${XLGEN_DATA}/xquad/xquad.{lang}.json", max_examples: 16}
    seeds: [0, 1]                           # drive the transfer step's data order (and masks)
    interference:
      languages: [de, ru, zh]               # language adapters; groups default to every pair and all of them
      adapter: {train.steps: 30}
      fusion: {train.steps: 20}

Everything that changes a run's outcome goes into its config, and its config hash names its directory.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from xlgen.config import DatasetSpec, ObjectiveConfig, RawTextSpec, apply_overrides, from_dict, load_yaml, typed_config
from xlgen.errors import XlgenError
from xlgen.study.config import ExecutorConfig


@typed_config
class TransferSpec:
    languages: list[str]
    # Unlabelled text per transfer language ({lang} in the path); `raw_by_lang` replaces it for single languages.
    raw: RawTextSpec | None = None
    raw_by_lang: dict[str, RawTextSpec] = field(default_factory=dict)
    # Step budgets k; the paper: 1, 10, 100, 1000.
    steps: list[int] = field(default_factory=lambda: [1, 10, 100, 1000])
    # The backbone's own self-supervised objective by default: MLM for encoders, span corruption for mT5, denoising
    # for mBART/NLLB, PrefixLM for decoder-only models (xlgen.objectives).
    objective: ObjectiveConfig = field(default_factory=lambda: ObjectiveConfig(name="pretraining"))
    overrides: dict[str, Any] = field(default_factory=dict)


@typed_config
class TargetSpec:
    languages: list[str]
    data: DatasetSpec


@typed_config
class InterferenceSpec:
    languages: list[str]
    # Groups to fuse; default: every pair and the whole set. Single adapters (fusions of one) are always run, since
    # interference is measured against the best single adapter of each group.
    groups: list[list[str]] | None = None
    raw: RawTextSpec | None = None  # default: transfer.raw
    raw_by_lang: dict[str, RawTextSpec] = field(default_factory=dict)
    adapter: dict[str, Any] = field(default_factory=dict)  # overrides for the language-adapter runs
    fusion: dict[str, Any] = field(default_factory=dict)  # overrides for the fusion runs
    objective: ObjectiveConfig = field(default_factory=lambda: ObjectiveConfig(name="pretraining"))


@typed_config
class TransferStudyConfig:
    name: str = "transfer"
    base: str
    overrides: dict[str, Any] = field(default_factory=dict)
    task_adapter: dict[str, Any] = field(default_factory=dict)
    transfer: TransferSpec
    targets: TargetSpec
    seeds: list[int] = field(default_factory=lambda: [0])
    interference: InterferenceSpec | None = None
    # Which shipped pretraining-language list marks unseen targets (mbert, xlmr, mt5, mbart50, nllb200, gemma3);
    # None: guessed from the model name. Or give the languages themselves in `pretraining_language_list`.
    pretraining_languages: str | None = None
    pretraining_language_list: list[str] | None = None
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output_dir: str | None = None


def load_transfer_study(path: str | Path, overrides: list[str] = ()) -> TransferStudyConfig:
    path = Path(path)
    data = apply_overrides(load_yaml(path), list(overrides))
    try:
        study = from_dict(TransferStudyConfig, data)
    except XlgenError as e:
        raise XlgenError(f"{path}: {e}") from None
    if not Path(study.base).is_absolute():
        study.base = str((path.resolve().parent / study.base).resolve())
    if not Path(study.base).exists():
        raise XlgenError(f"{path}: base: config {study.base} does not exist")
    t = study.transfer
    if not t.languages:
        raise XlgenError(f"{path}: transfer.languages: name at least one transfer language")
    if not study.targets.languages:
        raise XlgenError(f"{path}: targets.languages: name at least one target language")
    if not t.steps or any(int(k) < 1 for k in t.steps):
        raise XlgenError(f"{path}: transfer.steps: step budgets must be positive integers, got {t.steps}")
    if not study.seeds:
        raise XlgenError(f"{path}: seeds: give at least one seed")
    if study.executor.kind not in ("local", "ray"):
        raise XlgenError(f"{path}: executor.kind: unknown executor {study.executor.kind!r} (known: local, ray)")
    if study.output_dir is None:
        study.output_dir = str(Path("runs") / "transfer" / study.name)
    return study
