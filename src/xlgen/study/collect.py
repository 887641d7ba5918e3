"""Collecting a study for its report: the run directories and `study.json` are read, and the LR protocol is replayed
on the outcomes found on disk. `selection.json` is deliberately ignored, so a report can never show a choice that the
runs do not support, and a half-finished study still renders (its unfinished selections are marked incomplete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.io import read_json, read_jsonl_lenient
from xlgen.study.outcomes import new_protocol, outcome_for, protocol_config_for
from xlgen.study.protocol import LRProtocol, ProtocolConfig, RunKey, RunOutcome, canon_lr

STATUS_ORDER = ("done", "failed", "unfinished")


@dataclass
class Run:
    """One run directory. `status` is "unfinished" when neither results.json nor failed.json exists yet."""

    dir: Path
    kind: str
    model: str
    task: str | None
    method: str | None
    lr: float | None
    it: bool
    seed: int | None
    status: str
    results: dict | None = None
    error: str | None = None
    created: float = 0.0
    superseded: bool = False

    @property
    def key(self) -> RunKey:
        return RunKey(self.model, self.task, self.method, self.lr, self.it, self.seed)


def load_study_json(study_dir: Path) -> dict:
    path = study_dir / "study.json"
    if not path.is_file():
        raise XlgenError(f"{study_dir}: no study.json; is this a study directory (the output_dir of `xlgen study`)?")
    study = read_json(path)
    for k in ("models", "tasks", "methods"):
        if not study.get(k):
            raise XlgenError(f"{path}: '{k}' is missing or empty")
    study.setdefault("seeds", [0])
    study.setdefault("source_languages", ["en"])
    return study


def read_run(d: Path) -> Run | None:
    """None for a directory that is not (yet) a study run: the driver creates the directory before its key file."""
    kp = d / "study_key.json"
    if not kp.is_file():
        return None
    k = read_json(kp)
    kind = k.get("kind", "protocol")
    status, results, error = "unfinished", None, None
    if (d / "results.json").is_file():  # a success removes failed.json, so results.json wins if both exist
        status, results = "done", read_json(d / "results.json")
        if results.get("status") == "diverged":  # finished, but as a failed grid point
            status, results, error = "failed", None, results.get("error") or "diverged"
    elif (d / "failed.json").is_file():
        status, error = "failed", read_json(d / "failed.json").get("error") or "no error message"
    lr = k.get("lr")
    seed = k.get("seed")
    return Run(dir=d, kind=kind, model=k.get("model"), task=k.get("task"), method=k.get("method"),
               lr=None if lr is None else canon_lr(lr), it=bool(k.get("it", False)), seed=None if seed is None else int(seed),
               status=status, results=results, error=error, created=kp.stat().st_mtime)


def scan_runs(study_dir: Path) -> tuple[list[Run], int]:
    """All run directories, and how many directories had no study_key.json."""
    root = study_dir / "runs"
    runs, unknown = [], 0
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        r = read_run(d)
        if r is None:
            unknown += 1
        else:
            runs.append(r)
    return runs, unknown


def index_runs(runs: list[Run]) -> dict[tuple[str, RunKey], Run]:
    """One run per (kind, key). Several directories share a key only when the study config changed between
    invocations (the directory name hashes the resolved config); the newest directory belongs to the current config,
    so it wins even if unfinished, and the older ones are marked superseded."""
    index: dict[tuple[str, RunKey], Run] = {}
    for r in sorted((r for r in runs if r.kind in ("protocol", "reference")), key=lambda r: (r.created, str(r.dir))):
        old = index.get((r.kind, r.key))
        if old is not None:
            old.superseded = True
        index[(r.kind, r.key)] = r
    return index


def outcomes_from_runs(index: dict, protocol_cfg: ProtocolConfig, source_languages) -> dict[RunKey, RunOutcome]:
    return {key: outcome_for(key, r.results, protocol_cfg, source_languages, r.error)
            for (kind, key), r in index.items() if kind == "protocol" and r.status in ("done", "failed")}


def replay(protocol: LRProtocol, outcomes: dict[RunKey, RunOutcome]) -> list[RunKey]:
    """Tell the outcomes in the order the driver asked for them, so the decision log reads as it did live. Returns
    the runs the protocol still waits for (empty once done); those are what makes a selection incomplete."""
    while not protocol.done():
        asked = protocol.ask()
        ready = [outcomes[k] for k in asked if k in outcomes]
        if not ready:
            return asked
        protocol.tell(ready)
    return []


def replay_all_at_once(study: dict, protocol_cfg: ProtocolConfig, outcomes: dict[RunKey, RunOutcome]) -> LRProtocol:
    """The protocol's state is a function of its results, so telling everything at once must agree with `replay`."""
    p = new_protocol(study, protocol_cfg)
    p.tell(list(outcomes.values()))
    return p


def selection_rows(study: dict, protocol: LRProtocol, waiting: list[RunKey], index: dict) -> list[dict]:
    """Table 4 entries: the protocol's selection per model x task x method, with what is still missing."""
    sel = protocol.selected()
    rows = []
    for model in study["models"]:
        for task in study["tasks"]:
            for method in study["methods"]:
                source = protocol.source_of(method)
                s = sel.get((model, task, method))
                row = {"model": model, "task": task, "method": method, "selected": s, "plr_from": source}
                if s is None:
                    need = [k for k in waiting if (k.model, k.task) == (model, task) and k.method in (method, source)]
                    row["status"] = "incomplete: waiting for " + (", ".join(k.name for k in need) if need else "other runs")
                elif s["lr"] is None:
                    row["status"] = "no eligible setting"
                else:
                    seeds_done = [seed for seed in s["seeds"] if done_run(index, "protocol", RunKey(model, task, method, s["lr"], s["it"], seed))]
                    row["seeds_done"] = seeds_done
                    missing = [seed for seed in s["seeds"] if seed not in seeds_done]
                    row["status"] = "complete" if not missing else f"seeds incomplete: no results for seed(s) {missing}"
                rows.append(row)
    return rows


def done_run(index: dict, kind: str, key: RunKey) -> Run | None:
    r = index.get((kind, key))
    return r if r is not None and r.status == "done" else None


def task_metric(protocol_cfg: ProtocolConfig, task: str, runs: list[Run]) -> str | None:
    """The metric the protocol tunes for the task, i.e. the task's primary metric unless the study names another."""
    name = protocol_cfg.metric_name(task)
    if name != "primary":
        return name
    for r in runs:
        if r.task == task and r.status == "done" and r.results.get("primary_metric"):
            return r.results["primary_metric"]
    return None


def lang_order(study: dict, runs: list[Run]) -> list[str]:
    seen = list(study.get("test_languages") or [])
    for r in runs:
        for lang in (r.results or {}).get("test", {}):
            if lang not in seen:
                seen.append(lang)
    return seen


def last_train_log(run: Run) -> dict | None:
    """The last row of a run's train_log.jsonl (throughput over its last logging window), if any."""
    rows = read_jsonl_lenient(run.dir / "train_log.jsonl")
    return rows[-1] if rows else None


def run_order(r: Run):
    return (r.model or "", r.task or "", r.kind, r.method or "", r.lr or 0.0, r.it, r.seed or 0, str(r.dir))


@dataclass
class Context:
    """The collected study: what tables, figures and rendering read."""

    study_dir: Path
    out: Path
    study: dict
    cfg: ProtocolConfig
    runs: list[Run]
    index: dict
    protocol: LRProtocol
    waiting: list[RunKey]
    selection: list[dict]
    metrics: dict[str, str | None]  # task -> report metric
    langs: list[str]
    sources: tuple
    notes: list[str] = field(default_factory=list)  # consistency notes, shown at the end of the report
    # The headline metric profile of the runs (task.metric_profile), None for runs from before profiles.
    profile: str | None = None

    @property
    def other_profile(self) -> str | None:
        from xlgen.metrics.profiles import other_profile

        return other_profile(self.profile) if self.profile else None


def build_context(study_dir: Path, out: Path) -> tuple[Context, dict, int]:
    study = load_study_json(study_dir)
    cfg = protocol_config_for(study)
    runs, unknown = scan_runs(study_dir)
    index = index_runs(runs)
    sources = tuple(study["source_languages"])
    outcomes = outcomes_from_runs(index, cfg, sources)
    protocol = new_protocol(study, cfg)
    waiting = replay(protocol, outcomes)
    used = list(index.values())
    ctx = Context(study_dir=study_dir, out=out, study=study, cfg=cfg, runs=runs, index=index, protocol=protocol, waiting=waiting,
                  selection=selection_rows(study, protocol, waiting, index), metrics={t: task_metric(cfg, t, used) for t in study["tasks"]},
                  langs=lang_order(study, used), sources=sources,
                  profile=next((r.results["metric_profile"] for r in used if r.status == "done" and r.results.get("metric_profile")), None))
    return ctx, outcomes, unknown


def consistency_notes(ctx: Context, outcomes: dict) -> list[str]:
    notes = []
    once = replay_all_at_once(ctx.study, ctx.cfg, outcomes)
    if once.selected() != ctx.protocol.selected():
        notes.append("WARNING: replaying the outcomes all at once gives a different selection than in ask() order; please report this.")
    if ctx.cfg.select_on == "test":
        notes.append("protocol.select_on is 'test': learning rates and IT were selected on the test metrics reported here, "
                     "so these numbers are optimistic; they are not zero-shot estimates of held-out performance.")
    no_dev = [k.name for k, r in ((k, ctx.index[("protocol", k)]) for k in outcomes) if r.status == "done" and not r.results.get("dev_last")]
    if no_dev and ctx.cfg.select_on != "test":
        notes.append(f"{len(no_dev)} run(s) have no validation metrics and count as failed for selection: " + ", ".join(no_dev))
    sup = [r for r in ctx.runs if r.superseded]
    if sup:
        notes.append(f"{len(sup)} run director(ies) share their key with a newer one (the study config changed between invocations); "
                     "the newest is used and the older are marked superseded in results.csv: " + ", ".join(str(r.dir.name) for r in sup))
    return notes
