"""`xlgen transfer STUDY.yaml`: the transfer-language study of arXiv 2403.20088.

1. Check everything before any training: languages, raw text for every transfer language, evaluation data for every
   target, label sets, and that no raw text holds an evaluation sentence (xlgen.transfer.leakage).
2. Train the task adapter once (adapters method, source-language task data, base model frozen).
3. For every transfer language T, step budget k and seed: finetune the base model k steps on T's raw text with the
   backbone's own objective, re-attach the unchanged task adapter, evaluate every target (`cells.run_transfer_cell`);
   plus the baseline (k = 0). Each k starts from the base model: nothing is shared between budgets.
4. Interference (optional): a language adapter per language on raw text; AdapterFusion over single adapters, pairs
   and larger groups under the task adapter (`cells.run_fusion_cell`).

Every run goes through the study executors (in-process or Ray) and lives in `runs/<name>-<config hash>/`, so
rerunning the study redoes nothing finished and resumes what was interrupted; `index.json` lists the runs and
`xlgen transfer-report` (or the end of this command) turns them into the report.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path

from xlgen.config import RawTextSpec, RunConfig, from_dict, load_yaml, set_dotted, to_dict
from xlgen.errors import XlgenError
from xlgen.io import append_jsonl, atomic_write_json
from xlgen.languages import normalize_language
from xlgen.study.executors import Job, finished, invocation_id, make_executor
from xlgen.study.runner import config_hash
from xlgen.transfer.config import TransferStudyConfig, load_transfer_study

CELL = "xlgen.transfer.cells:run_transfer_cell"
FUSION = "xlgen.transfer.cells:run_fusion_cell"
# The transfer step is a handful of steps: no warmup (a 1-step run would otherwise step with a learning rate of 0),
# no evaluation or checkpoint inside it unless the study asks.
TRANSFER_DEFAULTS = {"train.warmup_steps": 0, "train.eval_every": 10**9, "train.log_every": 1}


def _apply(data: dict, mapping: dict) -> dict:
    for key, value in mapping.items():
        set_dotted(data, key, copy.deepcopy(value))
    return data


def adapter_name(lang: str) -> str:
    return "lang_" + lang.replace("-", "_")


class TransferStudy:
    def __init__(self, cfg: TransferStudyConfig):
        self.cfg = cfg
        self.dir = Path(cfg.output_dir)
        self.base = load_yaml(cfg.base)
        norm = lambda langs, field: [normalize_language(x, context=field) for x in langs]  # noqa: E731
        self.transfer_langs = norm(cfg.transfer.languages, "transfer.languages")
        self.targets = norm(cfg.targets.languages, "targets.languages")
        self.inter_langs = norm(cfg.interference.languages, "interference.languages") if cfg.interference else []
        self.index: dict[str, dict] = {}

    # -- run configs -------------------------------------------------------------------------------------------------
    def run_config(self, *mappings: dict) -> dict:
        data = _apply(copy.deepcopy(self.base), self.cfg.overrides)
        for m in mappings:
            _apply(data, m)
        try:
            return to_dict(from_dict(RunConfig, data))
        except XlgenError as e:
            raise XlgenError(f"{self.cfg.base} (+ study overrides): {e}") from None

    def raw_spec(self, lang: str, which) -> dict:
        spec = which.raw_by_lang.get(lang) or which.raw or self.cfg.transfer.raw
        if spec is None:
            raise XlgenError(f"transfer.raw: no raw text given for '{lang}' (set transfer.raw or transfer.raw_by_lang.{lang})")
        return dict(to_dict(spec), lang=lang, languages=[])

    def job(self, name: str, config: dict, key: dict, runner: str | None = None) -> Job:
        run_dir = self.dir / "runs" / f"{name}-{config_hash(config)}"
        if runner is None:
            config = dict(config, output_dir=str(run_dir))
        self.index[name] = {"run_dir": str(run_dir), **key}
        return Job(name=name, run_dir=str(run_dir), config=config, runner=runner)

    def task_adapter_job(self) -> Job:
        cfg = self.run_config(self.cfg.task_adapter, {
            "stage": "task", "adaptation.method": "adapters", "adaptation.adapters.name": "task",
            "adaptation.adapters.compose": "stack", "adaptation.adapters.load": {}, "data.dev": None, "data.test": None,
        })  # fmt: skip
        return self.job("task-adapter", cfg, {"kind": "task_adapter"})

    def eval_part(self, resolved: dict) -> dict:
        return {"model": resolved["model"], "task": resolved["task"], "generate": resolved["generate"], "device": resolved["train"]["device"],
                "targets": to_dict(self.cfg.targets.data), "target_languages": self.targets}

    def cell_jobs(self, task_adapter_dir: str) -> list[Job]:
        t = self.cfg.transfer
        plain = self.run_config()
        jobs = [self.job("baseline", {**self.eval_part(plain), "task_adapter": task_adapter_dir, "steps": 0, "train": None,
                                      "key": {"transfer": None, "steps": 0, "seed": None}}, {"kind": "baseline"}, CELL)]
        # Smallest budgets first, so an interrupted study has whole slices of the matrix (every transfer language, seed).
        for k, seed, lang in itertools.product(sorted(set(int(s) for s in t.steps)), self.cfg.seeds, self.transfer_langs):
            train = self.run_config(TRANSFER_DEFAULTS, {"train.save_every": max(k, 1)}, t.overrides, {
                "stage": "intermediate", "adaptation.method": "full", "data.train": [], "data.dev": None, "data.test": None,
                "data.mix": None, "data.raw": self.raw_spec(lang, t), "data.objective": to_dict(t.objective),
                "train.steps": k, "train.seed": seed,
            })  # fmt: skip
            key = {"transfer": lang, "steps": k, "seed": seed}
            config = {**self.eval_part(train), "task_adapter": task_adapter_dir, "steps": k, "train": train, "key": key}
            jobs.append(self.job(f"transfer-{lang}-k{k}-s{seed}", config, {"kind": "transfer", **key}, CELL))
        return jobs

    def groups(self) -> list[list[str]]:
        inter = self.cfg.interference
        langs = self.inter_langs
        if inter.groups is None:
            groups = [list(p) for p in itertools.combinations(langs, 2)] + ([list(langs)] if len(langs) > 2 else [])
        else:
            groups = [[normalize_language(x, context="interference.groups") for x in g] for g in inter.groups]
            for g in groups:
                if len(g) < 2 or len(set(g)) != len(g) or any(x not in langs for x in g):
                    raise XlgenError(f"interference.groups: {g} must name two or more distinct languages of interference.languages")
        return [[x] for x in langs] + groups

    def language_adapter_jobs(self) -> list[Job]:
        inter = self.cfg.interference
        jobs = []
        for lang in self.inter_langs:
            cfg = self.run_config(inter.adapter, {
                "stage": "intermediate", "adaptation.method": "adapters", "adaptation.adapters.name": "lang",
                "adaptation.adapters.compose": "stack", "adaptation.adapters.load": {}, "data.train": [], "data.dev": None,
                "data.test": None, "data.mix": None, "data.raw": self.raw_spec(lang, inter), "data.objective": to_dict(inter.objective),
                "train.seed": self.cfg.seeds[0],
            })  # fmt: skip
            jobs.append(self.job(f"lang-adapter-{lang}", cfg, {"kind": "language_adapter", "lang": lang}))
        return jobs

    def fusion_jobs(self, task_adapter_dir: str, lang_dirs: dict[str, str]) -> list[Job]:
        inter = self.cfg.interference
        jobs = []
        for group in self.groups():
            load = {adapter_name(x): lang_dirs[x] for x in group} | {"task": task_adapter_dir}
            train = self.run_config(self.cfg.task_adapter, inter.fusion, {
                "stage": "task", "adaptation.method": "adapters", "adaptation.adapters.compose": "fuse",
                "adaptation.adapters.load": load, "adaptation.adapters.stack_above": ["task"], "data.dev": None, "data.test": None,
                "train.seed": self.cfg.seeds[0],
            })  # fmt: skip
            key = {"group": group}
            jobs.append(self.job(f"fusion-{'+'.join(group)}", {**self.eval_part(train), "train": train, "key": key}, {"kind": "fusion", **key}, FUSION))
        return jobs

    # -- checks before training --------------------------------------------------------------------------------------
    def validate(self) -> dict:
        from xlgen.config import expand_path
        from xlgen.tasks import get_task
        from xlgen.transfer import leakage

        plain = from_dict(RunConfig, self.run_config())
        task = get_task(plain.task)
        spec = self.cfg.targets.data
        sets, sources = {}, {}
        for lang in self.targets:
            sources[lang] = expand_path(spec.path, lang, spec.lang_names) if spec.path else f"hf:{spec.hf}"
            sets[lang] = task.load(spec, lang, evaluation=True)
        check = getattr(task, "check_labels", None)
        if check is not None:  # classification: one label set across the source data and every target
            train_sets = {f"data.train[{i}]:{lang}": task.load(s, lang) for i, s in enumerate(plain.data.train)
                          for lang in (s.languages or [s.lang])}  # fmt: skip
            check({**train_sets, **sets})
            if not plain.task.labels:  # every run (and every head) uses this one label set, in this order
                self.cfg.overrides["task.labels"] = list(getattr(task, "types", None) or task.labels)
        # Against every sentence of the evaluation files, not only the examples used now, so raising max_examples
        # later cannot let an evaluation sentence into the transfer text.
        whole = dataclasses.replace(spec, max_examples=None)
        index = leakage.evaluation_index({lang: task.load(whole, lang, evaluation=False) for lang in self.targets}, sources)
        lines = {}
        for lang in self.transfer_langs:
            lines[lang] = leakage.check_raw_text(from_dict(RawTextSpec, self.raw_spec(lang, self.cfg.transfer)), lang, index, "transfer.raw")
        for lang in self.inter_langs:
            lines[f"adapter:{lang}"] = leakage.check_raw_text(from_dict(RawTextSpec, self.raw_spec(lang, self.cfg.interference)), lang, index, "interference.raw")
        return {"eval_examples": {lang: len(v) for lang, v in sets.items()}, "raw_lines_checked": lines}

    # -- the loop ----------------------------------------------------------------------------------------------------
    def run(self, progress: bool = True) -> dict:
        checks = self.validate()  # before any training: a mistake costs seconds
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.dir / "study.json", {**to_dict(self.cfg), "model_name": self.run_config()["model"]["name"], "checks": checks})
        inv, log = invocation_id(), self.dir / "executions.jsonl"
        failures: list[str] = []

        def on_done(job: Job, result: dict) -> None:
            append_jsonl(log, {"invocation": inv, "run": job.name, "run_dir": job.run_dir, "status": result["status"],
                               "executed": result.get("executed", False), "error": result.get("error")})
            if result["status"] != "done":
                failures.append(job.name)
            if progress:
                print(f"[xlgen] transfer: {job.name}: {result['status']}" + (f" ({result.get('error')})" if result["status"] != "done" else ""), flush=True)

        def run_all(jobs: list[Job]) -> None:
            atomic_write_json(self.dir / "index.json", self.index)  # the report can be built from a study cut short
            todo = [j for j in jobs if not finished(j.run_dir)]
            if progress and len(todo) < len(jobs):
                print(f"[xlgen] transfer: {len(jobs) - len(todo)} of {len(jobs)} runs already finished", flush=True)
            for j in todo:
                Path(j.run_dir).mkdir(parents=True, exist_ok=True)
            executor.run(todo, on_done)

        executor = make_executor(self.cfg.executor, progress=progress)
        try:
            ta = self.task_adapter_job()
            run_all([ta])
            if not finished(ta.run_dir):
                raise XlgenError(f"the task adapter run failed; see {ta.run_dir}/failed.json")
            ta_dir = str(Path(ta.run_dir) / "model")
            cells = self.cell_jobs(ta_dir)
            largest = max(int(k) for k in self.cfg.transfer.steps)
            # The largest budget costs most: the interference runs go before it, so a study cut short still has them.
            run_all([j for j in cells if j.config["steps"] < largest])
            if self.cfg.interference:
                adapters = self.language_adapter_jobs()
                run_all(adapters)
                dirs = {self.index[j.name]["lang"]: str(Path(j.run_dir) / "model") for j in adapters if finished(j.run_dir)}
                if len(dirs) == len(adapters):
                    run_all(self.fusion_jobs(ta_dir, dirs))
            run_all([j for j in cells if j.config["steps"] == largest])
        finally:
            executor.close()
            atomic_write_json(self.dir / "index.json", self.index)
        return {"dir": str(self.dir), "runs": len(self.index), "failed": failures}


def run_transfer_study(path: str | Path, overrides: list[str] = (), *, progress: bool = True) -> dict:
    return TransferStudy(load_transfer_study(path, overrides)).run(progress=progress)
