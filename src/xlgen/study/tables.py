"""The numbers of a study report and the rows of its tables (and of results.csv), computed from the collected study
(`collect.Context`). Averages over target languages aggregate as each measure declares (xlgen.metrics)."""

from __future__ import annotations

import csv
import io
import math
import statistics

from xlgen.metrics import aggregate, all_measures, diagnostics
from xlgen.study.collect import Context, Run, done_run, last_train_log, run_order
from xlgen.study.protocol import RunKey, canon_lr, fmt_lr

NOT_METRICS = {"n", "step"}
# Measures every run reports besides its task metric (language-correct rate, length): the registry's diagnostics.
DIAGNOSTICS = tuple(name for d in diagnostics() for name in d.measures)
CSV_HEAD = ("model", "task", "method", "kind", "lr", "it", "seed", "split", "lang", "status")
CSV_TAIL = ("n", "step", "run_dir", "superseded", "error")


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


def lr_text(x) -> str:
    return "n/a" if x is None else fmt_lr(x)


def it_text(x) -> str:
    return "n/a" if x is None else ("yes" if x else "no")


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
    for r in sorted((r for r in runs if r.kind in ("protocol", "reference") and r.status in ("done", "failed")), key=run_order):
        base = {"model": r.model, "task": r.task, "method": r.method, "kind": r.kind, "lr": r.lr, "it": r.it, "seed": r.seed,
                "status": r.status, "run_dir": str(r.dir), "superseded": r.superseded}
        if r.status == "failed":
            rows.append({**base, "split": "", "lang": "", "error": r.error})
            continue
        for split, block in (("test", r.results.get("test") or {}), ("dev", r.results.get("dev_last") or {})):
            for lang, m in block.items():
                rows.append({**base, "split": split, "lang": lang, **{k: m.get(k) for k in metrics}, "n": m.get("n"), "step": m.get("step")})
    return rows


def csv_text(rows: list[dict], metrics: list[str]) -> str:
    cols = list(CSV_HEAD) + metrics + list(CSV_TAIL)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({c: _cell(row.get(c)) for c in cols})
    return buf.getvalue()


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
            runs = [r for seed in ctx.study["seeds"] if (r := done_run(ctx.index, "protocol", RunKey(model, task, row["method"], s["lr"], s["it"], seed)))]
        out.append(_bar(ctx, row["method"], "protocol", s["lr"] if s else None, s["it"] if s else None, runs, metric, row["status"]))
    refs = {}
    for (kind, key), r in ctx.index.items():
        if kind == "reference" and (key.model, key.task) == (model, task):
            refs.setdefault((key.method, key.lr), []).append(r)
    for (name, lr), rs in sorted(refs.items()):
        done = sorted((r for r in rs if r.status == "done"), key=lambda r: r.seed)
        status = "complete" if len(done) == len(rs) else f"{len(rs) - len(done)} of {len(rs)} runs not finished"
        out.append(_bar(ctx, name, "reference", lr, False, done, metric, status))
    from xlgen.study.translation_report import translate_test_bars

    return out + translate_test_bars(ctx, model, task)


def _bar(ctx: Context, method: str, kind: str, lr, it, runs: list[Run], metric: str | None, status: str) -> dict:
    tests = [r.results.get("test") or {} for r in runs]
    m = mean_std([target_avg(t, metric, ctx.sources) for t in tests]) if metric else (None, None)
    c = mean_std([target_avg(t, "lang_correct", ctx.sources) for t in tests])
    per_lang = {}
    for key in (metric, *DIAGNOSTICS):
        if key:
            per_lang[key] = {lang: mean_std([t[lang].get(key) for t in tests if lang in t])[0] for lang in ctx.langs}
            per_lang[key]["avg"] = mean_std([target_avg(t, key, ctx.sources) for t in tests])[0]
    return {"method": method, "kind": kind, "lr": lr, "it": it, "seeds": [r.seed for r in runs], "status": status, "runs": runs,
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
            r = done_run(ctx.index, "protocol", best) if best else None
            val = target_avg(r.results.get("test") or {}, metric, ctx.sources) if r and metric else None
            sides[it] = (best.lr if best and val is not None else None, val)
        diff = None if sides[True][1] is None or sides[False][1] is None else sides[True][1] - sides[False][1]
        rows.append({"model": model, "task": task, "method": method, "plr": plr, "metric": metric,
                     "lr_noit": sides[False][0], "val_noit": sides[False][1], "lr_it": sides[True][0], "val_it": sides[True][1], "diff": diff})
    return rows


def cost_rows(ctx: Context, model: str, task: str) -> list[list[str]]:
    """What each method costs at its chosen setting (and each reference): trainable parameters and their share, the
    size of what the run saves, training throughput (all tokens per second, the last logged window) and training time;
    means over the seeds that finished."""
    rows = []
    for b in chosen_bars(ctx, model, task):
        res = [r.results for r in b["runs"]]
        logs = [log for r in b["runs"] if (log := last_train_log(r))]
        mean = lambda xs, scale=1.0: mean_std([x / scale for x in xs if x is not None])[0]  # noqa: E731
        rows.append([b["method"], b["kind"], lr_text(b["lr"]), it_text(b["it"]), str(len(res)),
                     num(mean([x.get("trainable_params") for x in res], 1e6)), num(mean([x.get("trainable_share") for x in res], 0.01)),
                     num(mean([x.get("artifact_bytes") for x in res], 2**20), 1), num(mean([x.get("tokens_per_s") for x in logs]), 0),
                     num(mean([x.get("train_time_s") for x in res]), 0)])
    return rows
