"""`xlgen report STUDY_DIR`: the paper's figures and tables (Fig. 1, Fig. 2, Table 1, Table 4) rebuilt from a study.

Only the run directories and `study.json` are read. `selection.json` is deliberately ignored: the selection is
recomputed by replaying the LR protocol on the outcomes found on disk, so a report can never show a choice that the
runs do not support, and a half-finished study still renders (its unfinished selections are marked incomplete).

Everything shown comes from one in-memory model of the study, rendered three ways (results.csv, report.md,
report.html) from the same numbers, so the tables and the CSV cannot disagree.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.io import atomic_write_text, read_json
from xlgen.metrics import aggregate, all_measures, diagnostics, measure
from xlgen.study.outcomes import new_protocol, outcome_for, protocol_config_for  # noqa: F401  (re-exported for callers)
from xlgen.study.protocol import LRProtocol, ProtocolConfig, RunKey, RunOutcome, canon_lr, fmt_lr

NOT_METRICS = {"n", "step"}
# Measures every run reports besides its task metric (language-correct rate, length): the registry's diagnostics.
DIAGNOSTICS = tuple(name for d in diagnostics() for name in d.measures)
CSV_HEAD = ("model", "task", "method", "kind", "lr", "it", "seed", "split", "lang", "status")
CSV_TAIL = ("n", "step", "run_dir", "superseded", "error")
STATUS_ORDER = ("done", "failed", "unfinished")


# ---- reading the study --------------------------------------------------------------------------------------------


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


# ---- replaying the protocol ---------------------------------------------------------------------------------------


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
                    seeds_done = [seed for seed in s["seeds"] if _done(index, "protocol", RunKey(model, task, method, s["lr"], s["it"], seed))]
                    row["seeds_done"] = seeds_done
                    missing = [seed for seed in s["seeds"] if seed not in seeds_done]
                    row["status"] = "complete" if not missing else f"seeds incomplete: no results for seed(s) {missing}"
                rows.append(row)
    return rows


def _done(index: dict, kind: str, key: RunKey) -> Run | None:
    r = index.get((kind, key))
    return r if r is not None and r.status == "done" else None


# ---- numbers ------------------------------------------------------------------------------------------------------


def target_langs(per_lang: dict, sources) -> list[str]:
    return [lang for lang in per_lang if lang not in sources]


def target_avg(per_lang: dict, name: str, sources) -> float | None:
    """The paper's headline number: the average over target (non-source) languages; None if any is missing."""
    langs = target_langs(per_lang, sources)
    vals = [per_lang[lang].get(name) for lang in langs]
    if not langs or any(v is None for v in vals):
        return None
    return aggregate(name, [float(v) for v in vals])


def mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    """Sample standard deviation over seeds; none for a single seed (one run says nothing about the spread)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


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


# ---- results.csv --------------------------------------------------------------------------------------------------


def metric_columns(runs: list[Run]) -> list[str]:
    names = set()
    for r in runs:
        for block in ((r.results or {}).get("test") or {}, (r.results or {}).get("dev_last") or {}):
            for m in block.values():
                names |= {k for k, v in m.items() if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)}
    known = list(all_measures())  # the registry's order: task metrics, then diagnostics; unregistered ones sorted after
    return [m for m in known if m in names] + sorted(names - set(known))


def _cell(x) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x)  # full precision: the CSV is the machine-readable truth
    return str(x)


def csv_rows(runs: list[Run], metrics: list[str]) -> list[dict]:
    """One row per run x split x language; a failed run gets one row without split/language carrying its error."""
    rows = []
    for r in sorted((r for r in runs if r.kind in ("protocol", "reference") and r.status in ("done", "failed")), key=_run_order):
        base = {"model": r.model, "task": r.task, "method": r.method, "kind": r.kind, "lr": r.lr, "it": r.it, "seed": r.seed,
                "status": r.status, "run_dir": str(r.dir), "superseded": r.superseded}
        if r.status == "failed":
            rows.append({**base, "split": "", "lang": "", "error": r.error})
            continue
        for split, block in (("test", r.results.get("test") or {}), ("dev", r.results.get("dev_last") or {})):
            for lang, m in block.items():
                rows.append({**base, "split": split, "lang": lang, **{k: m.get(k) for k in metrics}, "n": m.get("n"), "step": m.get("step")})
    return rows


def _run_order(r: Run):
    return (r.model or "", r.task or "", r.kind, r.method or "", r.lr or 0.0, r.it, r.seed or 0, str(r.dir))


def csv_text(rows: list[dict], metrics: list[str]) -> str:
    cols = list(CSV_HEAD) + metrics + list(CSV_TAIL)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({c: _cell(row.get(c)) for c in cols})
    return buf.getvalue()


# ---- figures ------------------------------------------------------------------------------------------------------


def _new_figure(w: float, h: float):
    """A pyplot-free figure on the Agg canvas: no global backend switch, safe next to other matplotlib users."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=90)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _label(metric: str) -> str:
    return all_measures()[metric].label if metric in all_measures() else metric


def plot_fig1(runs: list[Run], failed_lrs: list[float], metric: str, sources, plr: float | None, title: str, path: Path) -> None:
    """Metric and language-correct rate against LR, one line per test language: where LCR collapses is the story."""
    runs = sorted(runs, key=lambda r: r.lr)
    langs = []
    for r in runs:
        langs += [lang for lang in r.results.get("test", {}) if lang not in langs]
    fig = _new_figure(10, 4)
    axes = fig.subplots(1, 2)
    for ax, (key, ylabel) in zip(axes, ((metric, _label(metric)), ("lang_correct", "language-correct rate (%)"))):
        for lang in langs:
            pts = [(r.lr, r.results["test"][lang].get(key)) for r in runs if lang in r.results.get("test", {})]
            pts = [(x, y) for x, y in pts if y is not None]
            if not pts:
                continue
            style = dict(linewidth=2.8, color="black") if lang in sources else dict(linewidth=1.2)
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=lang, **style)
        for i, lr in enumerate(failed_lrs):
            ax.axvline(lr, color="red", linestyle=":", alpha=0.7, label="failed run" if i == 0 else None)
        if plr is not None:
            ax.axvline(plr, color="grey", linestyle="--", alpha=0.7, label="PLR")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=3, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def plot_fig2(bars: list[dict], metric: str, title: str, path: Path) -> None:
    """Methods at their chosen settings; references hatched so they read as baselines, not competitors."""
    bars = [b for b in bars if b["metric_mean"] is not None]
    fig = _new_figure(max(8, 2.4 * len(bars) + 2), 4.2)
    axes = fig.subplots(1, 2)
    xs = list(range(len(bars)))
    labels = [f"{b['method']}\n{_lr(b['lr'])}" + (", IT" if b["it"] else "") + ("\n(reference)" if b["kind"] == "reference" else "") for b in bars]
    for ax, (key, ylabel) in zip(axes, (("metric", _label(metric)), ("lcr", "language-correct rate (%)"))):
        for x, b in zip(xs, bars):
            mean, std = b[f"{key}_mean"], b[f"{key}_std"]
            if mean is None:
                continue
            ref = b["kind"] == "reference"
            ax.bar(x, mean, yerr=std, capsize=4, color="lightgrey" if ref else f"C{x % 10}", edgecolor="black",
                   hatch="//" if ref else None)
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title("average over target languages", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def safe_name(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p) for p in parts)


# ---- the report model ---------------------------------------------------------------------------------------------
# A report is a list of blocks rendered to Markdown and HTML alike:
# ("h", level, text) | ("p", text) | ("table", headers, rows) | ("img", file, alt) | ("ul", items: [str | (str, [str])])


@dataclass
class Context:
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
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def chosen_bars(ctx: Context, model: str, task: str) -> list[dict]:
    """Figure 2 numbers: per method at its chosen setting (and per reference), mean/std over seeds of the target
    average, plus the per-language means for the per-language tables."""
    metric = ctx.metrics.get(task)
    out = []
    for row in ctx.selection:
        if (row["model"], row["task"]) != (model, task):
            continue
        s = row["selected"]
        runs = []
        if s and s["lr"] is not None:
            runs = [r for seed in ctx.study["seeds"] if (r := _done(ctx.index, "protocol", RunKey(model, task, row["method"], s["lr"], s["it"], seed)))]
        out.append(_bar(ctx, row["method"], "protocol", s["lr"] if s else None, s["it"] if s else None, runs, metric, row["status"]))
    refs = {}
    for (kind, key), r in ctx.index.items():
        if kind == "reference" and (key.model, key.task) == (model, task):
            refs.setdefault((key.method, key.lr), []).append(r)
    for (name, lr), rs in sorted(refs.items()):
        done = sorted((r for r in rs if r.status == "done"), key=lambda r: r.seed)
        status = "complete" if len(done) == len(rs) else f"{len(rs) - len(done)} of {len(rs)} runs not finished"
        out.append(_bar(ctx, name, "reference", lr, False, done, metric, status))
    return out


def _bar(ctx: Context, method: str, kind: str, lr, it, runs: list[Run], metric: str | None, status: str) -> dict:
    tests = [r.results.get("test") or {} for r in runs]
    m = mean_std([target_avg(t, metric, ctx.sources) for t in tests]) if metric else (None, None)
    c = mean_std([target_avg(t, "lang_correct", ctx.sources) for t in tests])
    per_lang = {}
    for key in (metric, *DIAGNOSTICS):
        if key:
            per_lang[key] = {lang: mean_std([t[lang].get(key) for t in tests if lang in t])[0] for lang in ctx.langs}
            per_lang[key]["avg"] = mean_std([target_avg(t, key, ctx.sources) for t in tests])[0]
    return {"method": method, "kind": kind, "lr": lr, "it": it, "seeds": [r.seed for r in runs], "status": status,
            "metric_mean": m[0], "metric_std": m[1], "lcr_mean": c[0], "lcr_std": c[1], "per_lang": per_lang}


def it_effect_rows(ctx: Context) -> list[dict]:
    """Table 1: best of {PLR x multipliers} with IT minus without IT, first seed, on the test target average. The
    best LR of each side is picked as the protocol picks (validation metric, eligibility, tie rule), not on test."""
    seed0 = ctx.study["seeds"][0]
    rows = []
    for row in ctx.selection:
        model, task, method = row["model"], row["task"], row["method"]
        s = row["selected"]
        plr = s["plr"] if s else None
        metric = ctx.metrics.get(task)
        sides = {}
        for it in (False, True):
            best = None
            if plr is not None:
                lrs = [canon_lr(plr * m) for m in ctx.cfg.multipliers if ctx.cfg._within(canon_lr(plr * m))]
                best = ctx.protocol._best([RunKey(model, task, method, lr, it, seed0) for lr in dict.fromkeys(lrs)])
            r = _done(ctx.index, "protocol", best) if best else None
            val = target_avg(r.results.get("test") or {}, metric, ctx.sources) if r and metric else None
            sides[it] = (best.lr if best and val is not None else None, val)
        diff = None if sides[True][1] is None or sides[False][1] is None else sides[True][1] - sides[False][1]
        rows.append({"model": model, "task": task, "method": method, "plr": plr, "metric": metric,
                     "lr_noit": sides[False][0], "val_noit": sides[False][1], "lr_it": sides[True][0], "val_it": sides[True][1], "diff": diff})
    return rows


def _lr(x) -> str:
    return "n/a" if x is None else fmt_lr(x)


def _it(x) -> str:
    return "n/a" if x is None else ("yes" if x else "no")


# ---- sections -----------------------------------------------------------------------------------------------------


def section_intro(ctx: Context) -> list:
    st, cfg = ctx.study, ctx.cfg
    done = ctx.protocol.done()
    return [
        ("h", 1, f"Study report: {st.get('name', ctx.study_dir.name)}"),
        ("p", f"Built from the run directories under {ctx.study_dir / 'runs'} and study.json only; the LR selection is "
              f"recomputed by replaying the protocol on the runs' outcomes (selection.json is not read). "
              f"Target-language averages exclude the source language(s) {', '.join(ctx.sources)}. Machine-readable numbers: results.csv."),
        ("ul", [
            f"models: {', '.join(st['models'])}; tasks: {', '.join(st['tasks'])}; methods: {', '.join(st['methods'])}; seeds: {st['seeds']}",
            f"protocol: start LRs {[fmt_lr(x) for x in cfg.start_lrs]}, range [{fmt_lr(cfg.min_lr)}, {fmt_lr(cfg.max_lr)}], "
            f"multipliers {cfg.multipliers}, IT options {cfg.use_it_options}, language-correct floor {cfg.lang_correct_floor}",
            "protocol state: " + ("done" if done else f"not done, waiting for {len(ctx.waiting)} run(s): " + ", ".join(k.name for k in ctx.waiting)),
        ]),
    ]


def section_counts(ctx: Context, unknown_dirs: int) -> list:
    rows = []
    for kind in ("protocol", "reference", "intermediate"):
        rs = [r for r in ctx.runs if r.kind == kind]
        counts = [sum(r.status == s for r in rs) for s in STATUS_ORDER]
        rows.append([kind, *map(str, counts), str(sum(r.superseded for r in rs)), str(len(rs))])
    no_dir = [k for k in ctx.waiting if ("protocol", k) not in ctx.index]
    blocks = [("h", 2, "Run counts"), ("table", ["kind", *STATUS_ORDER, "superseded", "total"], rows)]
    extra = []
    if no_dir:
        extra.append(f"{len(no_dir)} run(s) the protocol needs have no run directory yet")
    if unknown_dirs:
        extra.append(f"{unknown_dirs} director(ies) under runs/ have no study_key.json and were skipped")
    return blocks + ([("ul", extra)] if extra else [])


def section_table4(ctx: Context) -> list:
    rows = []
    for row in ctx.selection:
        s = row["selected"] or {}
        via = "own search" if row["plr_from"] == row["method"] else f"{row['plr_from']} (derived)"
        rows.append([row["model"], row["task"], row["method"], _lr(s.get("lr")), _it(s.get("it")), _lr(s.get("plr")), via,
                     num(s.get("metric")), num(s.get("lang_correct")), row["status"]])
    return [
        ("h", 2, "Table 4 analogue: chosen learning rate and intermediate tuning"),
        ("p", "Selection metric and language-correct rate (LCR) are validation averages over non-source languages, first seed."),
        ("table", ["model", "task", "method", "LR", "IT", "PLR", "PLR from", "selection metric", "selection LCR", "status"], rows),
    ]


def section_fig2(ctx: Context) -> list:
    blocks = [("h", 2, "Figure 2 analogue: methods at their chosen settings"),
              ("p", "Test metric and LCR averaged over non-source test languages, mean over seeds; error bars and std: "
                    "sample standard deviation over seeds (none with one seed). Hatched bars: reference runs at a fixed LR.")]
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            bars = chosen_bars(ctx, model, task)
            blocks.append(("h", 3, f"{model} / {task}"))
            if metric and any(b["metric_mean"] is not None for b in bars):
                png = ctx.out / f"fig2_{safe_name(model, task)}.png"
                plot_fig2(bars, metric, f"{model} / {task}: methods at their chosen settings", png)
                ctx.figures[png.stem] = png
                blocks.append(("img", png.name, f"Figure 2 analogue for {model} / {task}"))
            m = metric or "metric"
            rows = [[b["method"], b["kind"], _lr(b["lr"]), _it(b["it"]), str(len(b["seeds"])), num(b["metric_mean"]), num(b["metric_std"]),
                     num(b["lcr_mean"]), num(b["lcr_std"]), b["status"]] for b in bars]
            blocks.append(("table", ["method", "kind", "LR", "IT", "seeds", f"{m} mean", f"{m} std", "LCR mean", "LCR std", "status"], rows))
    return blocks


def section_table1(ctx: Context) -> list:
    rows = [[r["model"], r["task"], r["method"], r["metric"] or "n/a", _lr(r["plr"]), _lr(r["lr_noit"]), num(r["val_noit"]),
             _lr(r["lr_it"]), num(r["val_it"]), signed(r["diff"])] for r in it_effect_rows(ctx)]
    blocks = [("h", 2, "Table 1 analogue: effect of intermediate tuning"),
              ("p", f"Best of PLR x {ctx.cfg.multipliers} with IT minus the same without IT (first seed, test average over non-source "
                    "languages). Each side's LR is picked as the protocol picks, on the validation metric; n/a where a side is missing.")]
    if True not in ctx.cfg.use_it_options:
        blocks.append(("p", "This study has no intermediate tuning, so every difference is n/a."))
    return blocks + [("table", ["model", "task", "method", "metric", "PLR", "LR no IT", "no IT", "LR IT", "IT", "IT - no IT"], rows)]


def section_per_language(ctx: Context) -> list:
    blocks = [("h", 2, "Per-language test results at the chosen settings"), ("p", "Mean over the seeds that finished; avg: over non-source languages.")]
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            if not metric:
                continue
            bars = chosen_bars(ctx, model, task)
            for key in (metric, *DIAGNOSTICS):
                title, digits = (metric, measure(metric).digits) if key == metric else (measure(key).label, measure(key).digits)
                rows = [[b["method"], b["kind"], _lr(b["lr"]), _it(b["it"]), str(len(b["seeds"])),
                         *[num(b["per_lang"][key][lang], digits) for lang in ctx.langs], num(b["per_lang"][key]["avg"], digits)] for b in bars]
                blocks += [("h", 3, f"{model} / {task}: {title}"), ("table", ["method", "kind", "LR", "IT", "seeds", *ctx.langs, "avg"], rows)]
    return blocks


def section_fig1(ctx: Context) -> list:
    blocks = [("h", 2, "Figure 1 analogue: effect of the learning rate"),
              ("p", f"Test metric and LCR against LR for every run without IT and with the first seed ({ctx.study['seeds'][0]}); "
                    "the source language in bold black, PLR dashed, failed runs dotted red.")]
    seed0 = ctx.study["seeds"][0]
    plrs = {(r["model"], r["task"], r["method"]): (r["selected"] or {}).get("plr") for r in ctx.selection}
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            for method in ctx.study["methods"]:
                rs = [r for (kind, k), r in ctx.index.items() if kind == "protocol" and (k.model, k.task, k.method, k.it, k.seed) == (model, task, method, False, seed0)]
                done = [r for r in rs if r.status == "done"]
                if not done or not metric:
                    continue
                png = ctx.out / f"fig1_{safe_name(model, task, method)}.png"
                failed = sorted(r.lr for r in rs if r.status == "failed")
                plot_fig1(done, failed, metric, ctx.sources, plrs.get((model, task, method)), f"{model} / {task} / {method}: effect of LR (no IT, seed {seed0})", png)
                ctx.figures[png.stem] = png
                blocks += [("h", 3, f"{model} / {task} / {method}"), ("img", png.name, f"Figure 1 analogue for {model} / {task} / {method}")]
    return blocks


def decision_item(d: dict, metric: str | None) -> tuple[str, list[str]]:
    chosen = d.get("chosen")
    name = metric if d["metric_name"] == "primary" and metric else d["metric_name"]
    if chosen is None:
        what = "nothing chosen"
    elif d["phase"] == "plr":
        what = f"PLR {fmt_lr(chosen['lr'])}"
    else:
        verb = "chosen" if d["phase"] == "final" else "best so far"
        what = f"{verb} LR {fmt_lr(chosen['lr'])} {'with' if chosen['it'] else 'without'} IT"
    head = f"{d['phase']} {d['model']} / {d['task']} / {d['method']}: {what}. {d['reason']}"
    subs = []
    for c in d["candidates"]:
        is_chosen = chosen is not None and canon_lr(c["lr"]) == canon_lr(chosen["lr"]) and c["it"] == chosen["it"]
        if c["status"] == "done":
            res = f"{name} {num(c['metric'])}, LCR {num(c['lang_correct'])}" + ("" if c["eligible"] else f" [not eligible: {c['why_not']}]")
        else:
            res = f"failed ({c['error']})" if c["status"] == "failed" else "no result"
        subs.append(f"LR {fmt_lr(c['lr'])}, {'IT' if c['it'] else 'no IT'}, seed {c['seed']}: {res}" + (" [chosen]" if is_chosen else ""))
    return head, subs


def section_decisions(ctx: Context) -> list:
    items = [decision_item(d, ctx.metrics.get(d["task"])) for d in ctx.protocol.decisions()]
    return [("h", 2, "Protocol decisions"), ("p", "In the order the protocol took them; metrics are validation averages over non-source languages."),
            ("ul", items or ["no decision yet"])]


def section_failed(ctx: Context) -> list:
    rows = [[r.kind, r.key.name if r.kind != "intermediate" else f"{r.model}/intermediate", str(r.dir), r.error or ""]
            for r in sorted((r for r in ctx.runs if r.status == "failed"), key=_run_order)]
    return [("h", 2, "Failed runs"), ("table", ["kind", "run", "run_dir", "error"], rows) if rows else ("p", "None.")]


def section_notes(ctx: Context) -> list:
    return [("h", 2, "Notes"), ("ul", ctx.notes)] if ctx.notes else []


def consistency_notes(ctx: Context, outcomes: dict) -> list[str]:
    notes = []
    once = replay_all_at_once(ctx.study, ctx.cfg, outcomes)
    if once.selected() != ctx.protocol.selected():
        notes.append("WARNING: replaying the outcomes all at once gives a different selection than in ask() order; please report this.")
    test_sel = [k.name for k, r in ((k, ctx.index[("protocol", k)]) for k in outcomes) if r.status == "done" and not r.results.get("dev_last")]
    if test_sel:
        notes.append(f"{len(test_sel)} run(s) had no validation metrics, so the protocol selected on their test metrics: " + ", ".join(test_sel))
    sup = [r for r in ctx.runs if r.superseded]
    if sup:
        notes.append(f"{len(sup)} run director(ies) share their key with a newer one (the study config changed between invocations); "
                     "the newest is used and the older are marked superseded in results.csv: " + ", ".join(str(r.dir.name) for r in sup))
    return notes


# ---- rendering ----------------------------------------------------------------------------------------------------


def _md_cell(s: str) -> str:
    return " ".join(str(s).split()).replace("|", "\\|")


def to_markdown(blocks: list) -> str:
    out = []
    for b in blocks:
        if b[0] == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif b[0] == "p":
            out += [b[1], ""]
        elif b[0] == "img":
            out += [f"![{b[2]}]({b[1]})", ""]
        elif b[0] == "table":
            out.append("| " + " | ".join(map(_md_cell, b[1])) + " |")
            out.append("|" + "---|" * len(b[1]))
            out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in b[2]]
            out.append("")
        elif b[0] == "ul":
            for item in b[1]:
                head, subs = (item, []) if isinstance(item, str) else item
                out.append(f"- {head}")
                out += [f"  - {s}" for s in subs]
            out.append("")
    return "\n".join(out)


CSS = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #bbb;padding:3px 8px;font-size:0.9em}"
       "th{background:#eee}td{text-align:right}td:first-child{text-align:left}img{max-width:100%}li{margin:0.2em 0}")


def to_html(blocks: list, out: Path, title: str) -> str:
    """Self-contained: images are inlined as data URIs so the page can be mailed or attached as one file."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style></head><body>"]
    for b in blocks:
        if b[0] == "h":
            parts.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            parts.append(f"<p>{e(b[1])}</p>")
        elif b[0] == "img":
            data = base64.b64encode((out / b[1]).read_bytes()).decode("ascii")
            parts.append(f"<p><img alt='{e(b[2], quote=True)}' src='data:image/png;base64,{data}'></p>")
        elif b[0] == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in b[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b[0] == "ul":
            items = []
            for item in b[1]:
                head, subs = (item, []) if isinstance(item, str) else item
                sub = "<ul>" + "".join(f"<li>{e(s)}</li>" for s in subs) + "</ul>" if subs else ""
                items.append(f"<li>{e(head)}{sub}</li>")
            parts.append("<ul>" + "".join(items) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ---- entry point --------------------------------------------------------------------------------------------------


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
                  langs=lang_order(study, used), sources=sources)
    return ctx, outcomes, unknown


def write_report(study_dir: str | Path, out: str | Path | None = None) -> dict:
    """Write results.csv, report.md, report.html and the PNG figures; returns {name: path} of everything written."""
    study_dir = Path(study_dir)
    out = Path(out) if out is not None else study_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    ctx, outcomes, unknown = build_context(study_dir, out)
    ctx.notes = consistency_notes(ctx, outcomes)

    metrics = metric_columns(ctx.runs)
    paths = {"out": out, "results_csv": out / "results.csv"}
    atomic_write_text(paths["results_csv"], csv_text(csv_rows(ctx.runs, metrics), metrics))

    blocks = (section_intro(ctx) + section_counts(ctx, unknown) + section_table4(ctx) + section_fig2(ctx) + section_table1(ctx)
              + section_per_language(ctx) + section_fig1(ctx) + section_decisions(ctx) + section_failed(ctx) + section_notes(ctx))
    paths["report_md"] = out / "report.md"
    atomic_write_text(paths["report_md"], to_markdown(blocks))
    paths["report_html"] = out / "report.html"
    atomic_write_text(paths["report_html"], to_html(blocks, out, f"Study report: {ctx.study.get('name', study_dir.name)}"))
    paths.update(sorted(ctx.figures.items()))
    return paths


def selection_summary(study_dir: str | Path) -> dict:
    """The recomputed selection as JSON-ready data (what selection.json would say), for callers and tests."""
    ctx, _, _ = build_context(Path(study_dir), Path(study_dir) / "report")
    return {"selected": [{"model": m, "task": t, "method": me, **v} for (m, t, me), v in ctx.protocol.selected().items()],
            "decisions": ctx.protocol.decisions(), "waiting": [k.name for k in ctx.waiting], "complete": ctx.protocol.done()}


__all__ = ["write_report", "outcome_for", "protocol_config_for", "replay", "selection_summary", "scan_runs", "index_runs"]
