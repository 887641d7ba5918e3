"""`xlgen study STUDY.yaml`: run a whole comparison with the paper's learning-rate protocol.

The driver asks the protocol which runs are needed, runs the ones that are not finished (a finished run is keyed by a
hash of its resolved config, so rerunning a study redoes nothing), tells the protocol their outcomes, and repeats.
Each run directory holds `study_key.json` (model, task, method, lr, it, seed, kind), so the report can be rebuilt from
the run directories alone. `executions.jsonl` logs which runs each invocation executed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from xlgen.config import RunConfig, from_dict, load_yaml, set_dotted, to_dict
from xlgen.errors import XlgenError
from xlgen.io import append_jsonl, atomic_write_json, read_json, remove_temporary_files
from xlgen.study.config import StudyConfig, load_study
from xlgen.study.executors import Job, finished, invocation_id, make_executor
from xlgen.study.outcomes import method_entry, new_protocol, outcome_for, protocol_config_for
from xlgen.study.protocol import LRProtocol, RunKey, RunOutcome, fmt_lr
from xlgen.study.translation import add_translate_train, run_evaluations, translate_training_data


def _apply(data: dict, mapping: dict) -> dict:
    for key, value in mapping.items():
        set_dotted(data, key, copy.deepcopy(value))
    return data


def config_hash(cfg: dict) -> str:
    body = {k: v for k, v in cfg.items() if k != "output_dir"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:10]


class Study:
    def __init__(self, study: StudyConfig, study_file: Path | None = None):
        self.cfg = study
        self.dir = Path(study.output_dir)
        add_translate_train(study)
        self.task_overrides: dict[tuple[str, str], dict] = {}  # (method, task) -> what only that task needs (translate-train data)
        self.protocol_cfg = protocol_config_for(to_dict(study))
        if study.intermediate and set(study.intermediate) != set(study.models) and True in self.protocol_cfg.use_it_options:
            missing = sorted(set(study.models) - set(study.intermediate))
            raise XlgenError(f"intermediate: no intermediate tuning given for model(s) {missing}; give it for every model or none")
        self.base = load_yaml(study.base)
        self.it_models: dict[str, str] = {}
        self._check_selection_data()

    def _check_selection_data(self) -> None:
        """Selection must not see test data: without validation data in a non-source language, stop before anything
        trains, unless the study asks to select on test data explicitly (`protocol.select_on: test`)."""
        if self.protocol_cfg.select_on == "test":
            return
        for model in self.cfg.models:
            for task in self.cfg.tasks:
                dev = self._probe_config(model, task).data.dev
                langs = ([dev.lang] if dev and dev.lang else []) + (list(dev.languages) if dev else [])
                if not [lang for lang in langs if lang not in self.cfg.source_languages]:
                    raise XlgenError(
                        f"study {self.cfg.name}: {model}/{task} has no validation data in a target language, so the LR protocol "
                        "could only select on test data; give `validation_languages` (and `data.dev` in the base config), "
                        "or set `protocol.select_on: test` to select on test data knowingly (reports then say so)")

    def _probe_config(self, model: str, task: str) -> RunConfig:
        """The resolved config of a run of this model and task (first method, any LR): what every run shares."""
        return from_dict(RunConfig, self.run_config(model, task, next(iter(self.cfg.methods.values())), 1e-4, False, self.cfg.seeds[0]))

    # -- run configs -----------------------------------------------------------------------------------------------
    def run_config(self, model: str, task: str, method_overrides: dict, lr: float, it: bool, seed: int) -> dict:
        data = _apply(copy.deepcopy(self.base), self.cfg.overrides)
        _apply(data, self.cfg.models[model])
        _apply(data, self.cfg.tasks[task])
        _apply(data, method_overrides)
        if it:
            set_dotted(data, "model.name", self.it_models[model])
        set_dotted(data, "train.lr", float(lr))
        set_dotted(data, "train.seed", int(seed))
        if self.cfg.validation_languages:
            set_dotted(data, "data.dev.languages", list(self.cfg.validation_languages))
            set_dotted(data, "data.dev.lang", None)
        if self.cfg.test_languages:
            set_dotted(data, "data.test.languages", list(self.cfg.test_languages))
            set_dotted(data, "data.test.lang", None)
        if self.cfg.tracking:
            set_dotted(data, "tracking", list(self.cfg.tracking))
        resolved = to_dict(from_dict(RunConfig, data))  # validates; the same text for the same run, always
        return resolved

    def job(self, name: str, resolved: dict, key: dict) -> Job:
        run_dir = self.dir / "runs" / f"{name.replace('/', '_')}-{config_hash(resolved)}"
        resolved = dict(resolved, output_dir=str(run_dir))
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / "study_key.json").exists():
            atomic_write_json(run_dir / "study_key.json", key)
        return Job(name=name, run_dir=str(run_dir), config=resolved)

    def key_job(self, key: RunKey) -> Job:
        overrides = {**method_entry(to_dict(self.cfg), key.method), **self.task_overrides.get((key.method, key.task), {})}
        resolved = self.run_config(key.model, key.task, overrides, key.lr, key.it, key.seed)
        return self.job(key.name, resolved, {**key.to_dict(), "kind": "protocol"})

    # -- outcomes --------------------------------------------------------------------------------------------------
    def outcome(self, key: RunKey, result: dict) -> RunOutcome:
        results = result.get("results") if result["status"] == "done" else None
        return outcome_for(key, results, self.protocol_cfg, self.cfg.source_languages, result.get("error"))

    # -- the loop --------------------------------------------------------------------------------------------------
    def run(self, progress: bool = True) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        remove_temporary_files(self.dir, recursive=False)  # a killed driver's; each run cleans its own directory
        atomic_write_json(self.dir / "study.json", to_dict(self.cfg))
        inv = invocation_id()
        executor = make_executor(self.cfg.executor, progress=progress)
        log = self.dir / "executions.jsonl"

        def on_done(job: Job, result: dict) -> None:
            append_jsonl(log, {"invocation": inv, "run": job.name, "run_dir": job.run_dir, "status": result["status"],
                               "executed": result.get("executed", False), "resumed": result.get("resumed", False), "error": result.get("error"),
                               **{k: result[k] for k in ("started", "seconds", "pid") if k in result}})
            if progress:
                print(f"[xlgen] study: {job.name}: {result['status']}" + (f" ({result.get('error')})" if result["status"] != "done" else ""), flush=True)

        try:
            self._intermediate(executor, on_done)
            self._translate_train(progress)
            protocol = new_protocol(to_dict(self.cfg), self.protocol_cfg)
            while not protocol.done():
                keys = protocol.ask()
                if not keys:
                    break
                jobs = {k: self.key_job(k) for k in keys}
                todo = [k for k in keys if not finished(jobs[k].run_dir)]
                results: dict[RunKey, dict] = {k: {"status": "done", "results": read_json(Path(jobs[k].run_dir) / "results.json")} for k in keys if k not in todo}
                if todo:
                    by_name = {jobs[k].name: k for k in todo}

                    def collect(job: Job, result: dict) -> None:
                        on_done(job, result)
                        results[by_name[job.name]] = result

                    executor.run([jobs[k] for k in todo], collect)
                _stop_if_crashed([(jobs[k].name, results[k]) for k in keys])
                protocol.tell([self.outcome(k, results[k]) for k in keys])
            self._references(executor, on_done)
        finally:
            executor.close()
        run_evaluations(self.cfg, protocol, self.key_job, progress=progress)
        if self.cfg.guards:
            from xlgen.study.guards import evaluate_selected

            evaluate_selected(self, protocol.selected(), progress)
        summary = {
            "selected": [{"model": m, "task": t, "method": me, **v} for (m, t, me), v in protocol.selected().items()],
            "decisions": self._annotated(protocol),
            "protocol": self.protocol_cfg.to_dict(),
            "intermediate_models": self.it_models,
        }
        atomic_write_json(self.dir / "selection.json", summary)
        return summary

    def _annotated(self, protocol: LRProtocol) -> list[dict]:
        """The decisions, each with the paired differences chosen - candidate and which candidates are within noise."""
        from types import SimpleNamespace

        from xlgen.study import uncertainty

        def lookup(name: str):
            for key in protocol.results:
                if key.name == name:
                    job = self.key_job(key)
                    path = Path(job.run_dir) / "results.json"
                    return SimpleNamespace(dir=Path(job.run_dir), results=read_json(path)) if path.exists() else None
            return None

        def metric_for(task: str):
            name = self.protocol_cfg.metric_name(task)
            if name != "primary":
                return name
            from xlgen.tasks import get_task

            return get_task(self._probe_config(next(iter(self.cfg.models)), task).task).primary_metric

        profile = self._probe_config(next(iter(self.cfg.models)), next(iter(self.cfg.tasks))).task.metric_profile
        return uncertainty.annotate_decisions(protocol.decisions(), lookup, metric_for, profile, tuple(self.cfg.source_languages),
                                              self.protocol_cfg.select_on)

    def _intermediate(self, executor, on_done) -> None:
        jobs = []
        for model, spec in self.cfg.intermediate.items():
            if spec.model:
                self.it_models[model] = spec.model
                continue
            data = _apply(load_yaml(spec.config), self.cfg.models[model])
            _apply(data, spec.overrides)
            set_dotted(data, "stage", "intermediate")
            resolved = to_dict(from_dict(RunConfig, data))
            job = self.job(f"{model}/intermediate", resolved, {"model": model, "kind": "intermediate"})
            self.it_models[model] = job.run_dir
            if not finished(job.run_dir):
                jobs.append(job)
        ended = []
        executor.run(jobs, lambda job, result: (on_done(job, result), ended.append((job.name, result))))
        _stop_if_crashed(ended)
        failed = [name for name, result in ended if result["status"] != "done"]
        if failed:
            raise XlgenError(f"intermediate tuning failed for {failed}; see failed.json in their run directories")

    def _translate_train(self, progress: bool) -> None:
        tc = self.cfg.translation
        if tc is None or not tc.train:
            return
        model = next(iter(self.cfg.models))
        per_task = {t: self.run_config(model, t, self.cfg.methods[tc.base_method], 1e-4, False, 0) for t in self.cfg.tasks}
        for task, overrides in translate_training_data(self.cfg, self.dir, per_task, progress=progress).items():
            self.task_overrides[(tc.method_name, task)] = overrides

    def _references(self, executor, on_done) -> None:
        jobs = []
        for ref, spec in self.cfg.references.items():
            for model in self.cfg.models:
                for task in self.cfg.tasks:
                    for seed in self.cfg.seeds:
                        resolved = self.run_config(model, task, spec.overrides, spec.lr, False, seed)
                        key = {"model": model, "task": task, "method": ref, "lr": spec.lr, "it": False, "seed": seed, "kind": "reference"}
                        job = self.job(f"{model}/{task}/{ref}/lr{fmt_lr(spec.lr)}/s{seed}", resolved, key)
                        if not finished(job.run_dir):
                            jobs.append(job)
        ended = []
        executor.run(jobs, lambda job, result: (on_done(job, result), ended.append((job.name, result))))
        _stop_if_crashed(ended)


def _stop_if_crashed(ended: list[tuple[str, dict]]) -> None:
    """A run whose worker died (`status: crashed`) has no outcome: the protocol would otherwise count it as a failed grid
    point and choose among the rest, spend the final seeds on that choice, and leave them behind once a rerun finds
    the better LR. So the study stops after the round, with every finished run of it saved and nothing decided on it;
    rerunning the command resumes the crashed runs from their checkpoints and goes on."""
    crashed = [(name, r.get("error") or "no error message") for name, r in ended if r["status"] == "crashed"]
    if crashed:
        what = "; ".join(f"{name} ({error})" for name, error in crashed)
        raise XlgenError(f"study stopped: the process running {len(crashed)} run(s) died: {what}. Nothing was decided on "
                         "them; rerun the same command to resume them from their last checkpoints and continue")


def run_study(path: str | Path, overrides: list[str] = (), *, progress: bool = True) -> dict:
    study, file = load_study(path, overrides)
    return Study(study, file).run(progress=progress)
