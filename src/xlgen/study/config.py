"""A study: models x tasks x adaptation methods x intermediate tuning (on/off) x seeds, with the paper's LR protocol.

    name: xquad-cpu
    base: ../demo.yaml                     # run config every run starts from (relative to this file)
    overrides: {train.steps: 40}           # applied to every run (dotted keys)
    models: {gemma: {model.name: embedded}}
    tasks: {xquad: {}}
    methods: {full: {adaptation.method: full}, adapters: {adaptation.method: adapters}}
    intermediate: {gemma: {config: ../intermediate/embedded.yaml}}   # or {model: PATH_OF_AN_IT_CHECKPOINT}
    seeds: [0, 1]
    validation_languages: [th, ro, vi]     # selection: task metric averaged over these (source languages excluded)
    test_languages: [en, de, es, ru, zh, ar]
    protocol: {lang_correct_floor: 50}
    executor: {kind: ray, gpus_per_run: 1}
    references: {translate-train: {lr: 1.0e-4, overrides: {data.train: [...]}}}
    translation: {translator: "hf:facebook/nllb-200-3.3B"}   # translate-train method, translate-test, Table 3
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from xlgen.config import ListOf, from_dict, load_yaml, typed_config
from xlgen.errors import XlgenError
from xlgen.study.protocol import ProtocolConfig
from xlgen.study.translation import TranslationStudyConfig


@typed_config
class ExecutorConfig:
    kind: str = "local"  # local: one run after another in this process | ray: each run a Ray task
    # ray: an existing cluster ("auto", "ray://head:10001"); None starts a local cluster on demand.
    address: str | None = None
    # ray local cluster: CPUs it may use (None: all).
    num_cpus: int | None = None
    cpus_per_run: float = 1.0
    # ray: a fraction packs several runs on one GPU (0.5: two per GPU). The paper's 4,000-token batches cannot fill a
    # large GPU alone; runs packed side by side fill each other's idle time (BENCHMARKS.md, "Several runs on one GPU").
    gpus_per_run: float = 0.0
    # local: runs at once, each in its own process on this machine's device (2: two runs share the GPU).
    parallel_runs: int = 1


@typed_config
class IntermediateSpec:
    # A run config for intermediate tuning (stage: intermediate), run once per model before the runs that use it...
    config: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    # ...or an existing intermediate-tuned checkpoint (a run or model directory, or a hub name).
    model: str | None = None


@typed_config
class ReferenceSpec:
    """A baseline run at a fixed LR, without search (e.g. translate-train), shown as a reference bar."""

    lr: float
    overrides: dict[str, Any] = field(default_factory=dict)


@typed_config
class StudyConfig:
    name: str = "study"
    base: str
    overrides: dict[str, Any] = field(default_factory=dict)
    models: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]] = field(default_factory=lambda: {"task": {}})
    methods: dict[str, dict[str, Any]]
    intermediate: dict[str, IntermediateSpec] = field(default_factory=dict)
    seeds: ListOf[int] = field(default_factory=lambda: [0])
    source_languages: ListOf[str] = field(default_factory=lambda: ["en"])
    validation_languages: ListOf[str] = field(default_factory=list)
    test_languages: ListOf[str] | None = None
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    references: dict[str, ReferenceSpec] = field(default_factory=dict)
    # Experiment trackers for every run (tensorboard, mlflow, wandb), off by default; run directories stay the truth.
    tracking: ListOf[str] = field(default_factory=list)
    # Language-guard settings (xlgen.guards, e.g. [span, script+prior]) the chosen runs are also evaluated with, after
    # the protocol (xlgen.study.guards); the report shows them beside unguarded decoding.
    guards: ListOf[str] = field(default_factory=list)
    output_dir: str | None = None
    # Data-translation baselines: translate-train as a method, translate-test and translated outputs (study/translation.py).
    translation: TranslationStudyConfig | None = None


def load_study(path: str | Path, overrides: list[str] = ()) -> tuple[StudyConfig, Path]:
    """Load a study file; relative paths in it (base, intermediate configs) are relative to the file."""
    from xlgen.config import apply_overrides

    path = Path(path)
    data = apply_overrides(load_yaml(path), list(overrides))
    try:
        study = from_dict(StudyConfig, data)
    except XlgenError as e:
        raise XlgenError(f"{path}: {e}") from None
    root = path.resolve().parent
    study.base = str((root / study.base).resolve()) if not Path(study.base).is_absolute() else study.base
    for spec in study.intermediate.values():
        if spec.config and not Path(spec.config).is_absolute():
            spec.config = str((root / spec.config).resolve())
    if not study.models or not study.methods or not study.tasks:
        raise XlgenError(f"{path}: a study needs models, tasks and methods")
    if not Path(study.base).exists():
        raise XlgenError(f"{path}: base config {study.base} does not exist")
    for model, spec in study.intermediate.items():
        if model not in study.models:
            raise XlgenError(f"{path}: intermediate.{model}: no such model (models: {', '.join(study.models)})")
        if bool(spec.config) == bool(spec.model):
            raise XlgenError(f"{path}: intermediate.{model}: give either `config` (run it) or `model` (an IT checkpoint)")
    if study.executor.kind not in ("local", "ray"):
        raise XlgenError(f"{path}: executor.kind: unknown executor {study.executor.kind!r} (known: local, ray)")
    if study.guards:
        from xlgen.guards import guard_names

        try:
            [guard_names(g) for g in study.guards]
        except XlgenError as e:
            raise XlgenError(f"{path}: guards: {e}") from None
    if study.output_dir is None:
        study.output_dir = str(Path("runs") / "studies" / study.name)
    return study, path
