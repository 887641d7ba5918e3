"""The numbers of a study report and the rows of its tables (and of results.csv), computed from the collected study
(`collect.Context`). Averages over target languages aggregate as each measure declares (xlgen.metrics)."""

from __future__ import annotations

import csv
import io
import math
import statistics

from xlgen.metrics import aggregate, all_measures, diagnostics
from xlgen.study import uncertainty
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
    """Metric columns. Rows with metric profiles give columns named by profile (`paper.f1`, `paper.f1_lo`,
    `paper.f1_hi`, `multilingual.f1`...) and interval bounds for every metric (`lang_correct_lo`...)."""
    names, profiled, bounds = set(), {}, set()
    for r in runs:
        for block in ((r.results or {}).get("test") or {}, (r.results or {}).get("dev_last") or {}):
            for m in block.values():
                for k, v in m.items():
                    if k in NOT_METRICS or isinstance(v, bool):
                        continue
                    if isinstance(v, (int, float)):
                        names.add(k)
                    elif k.endswith("_ci"):
                        bounds.add(k[:-3])
                for prof, pm in (m.get("profiles") or {}).items():
                    profiled.setdefault(prof, set()).update(k for k, v in pm.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    if profiled:  # the top-level task metrics repeat the headline profile's; the profile columns name them
        names -= set().union(*profiled.values())
    known = list(all_measures())  # the registry's order: task metrics, then diagnostics; unregistered ones sorted after
    order = lambda ns: [m for m in known if m in ns] + sorted(set(ns) - set(known))  # noqa: E731
    cols = []
    for prof in sorted(profiled):
        for m in order(profiled[prof]):
            cols += [f"{prof}.{m}", f"{prof}.{m}_lo", f"{prof}.{m}_hi"]
    for m in order(names):
        cols += [m] + ([f"{m}_lo", f"{m}_hi"] if m in bounds else [])
    return cols + (["headline_profile", "langid_model", "flags"] if profiled else [])


def _metric_cells(m: dict, metrics: list[str]) -> dict:
    flat = {}
    for k, v in m.items():
        if k.endswith("_ci") and isinstance(v, list) and len(v) == 2:
            flat[f"{k[:-3]}_lo"], flat[f"{k[:-3]}_hi"] = v
        else:
            flat[k] = v
    for prof, pm in (m.get("profiles") or {}).items():
        for k, v in pm.items():
            if k.endswith("_ci") and isinstance(v, list) and len(v) == 2:
                flat[f"{prof}.{k[:-3]}_lo"], flat[f"{prof}.{k[:-3]}_hi"] = v
            elif isinstance(v, (int, float)):
                flat[f"{prof}.{k}"] = v
    flat["headline_profile"] = m.get("profile")
    flat["flags"] = "; ".join(m.get("flags") or []) or None
    return {k: flat.get(k) for k in metrics}


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
                rows.append({**base, "split": split, "lang": lang, **_metric_cells(m, metrics), "n": m.get("n"), "step": m.get("step")})
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
    """Means over seeds, plus 95% intervals over examples (of the seed mean; None without per-example scores) and the
    other metric profile's number."""
    tests = [r.results.get("test") or {} for r in runs]
    m = mean_std([target_avg(t, metric, ctx.sources) for t in tests]) if metric else (None, None)
    c = mean_std([target_avg(t, "lang_correct", ctx.sources) for t in tests])
    # Per-example scores sit beside a run's own predictions; evaluations kept elsewhere (translate-test) get no interval
    # here rather than the run's direct-evaluation interval.
    ci_runs = runs if kind != "translation" else []
    targets = [lang for lang in ctx.langs if lang not in ctx.sources and all(lang in t for t in tests)] if tests else []
    per_lang, per_lang_ci, per_lang_other = {}, {}, {}
    for key in (metric, *DIAGNOSTICS):
        if key:
            per_lang[key] = {lang: mean_std([t[lang].get(key) for t in tests if lang in t])[0] for lang in ctx.langs}
            per_lang[key]["avg"] = mean_std([target_avg(t, key, ctx.sources) for t in tests])[0]
            per_lang_ci[key] = {lang: uncertainty.language(ci_runs, lang, key, ctx.profile) for lang in ctx.langs if all(lang in t for t in tests)}
            per_lang_ci[key]["avg"] = uncertainty.average(ci_runs, targets, key, ctx.profile)
    if metric and ctx.other_profile:
        other = ctx.other_profile
        for lang in ctx.langs:
            vals = [t[lang]["profiles"][other].get(metric) for t in tests if lang in t and "profiles" in t[lang]]
            per_lang_other[lang] = mean_std(vals)[0] if vals and len(vals) == len(tests) else None
        avg_other = uncertainty.average(ci_runs, targets, metric, other)
        per_lang_other["avg"] = avg_other.estimate if avg_other else None
    return {"method": method, "kind": kind, "lr": lr, "it": it, "seeds": [r.seed for r in runs], "status": status, "runs": runs,
            "metric_mean": m[0], "metric_std": m[1], "lcr_mean": c[0], "lcr_std": c[1], "per_lang": per_lang,
            "per_lang_ci": per_lang_ci, "per_lang_other": per_lang_other, "targets": targets,
            "metric_ci": per_lang_ci.get(metric, {}).get("avg") if metric else None, "lcr_ci": per_lang_ci.get("lang_correct", {}).get("avg")}


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
            sides[it] = (best.lr if best and val is not None else None, val, r)
        diff = None if sides[True][1] is None or sides[False][1] is None else sides[True][1] - sides[False][1]
        paired = None
        if diff is not None:
            langs = target_langs(sides[True][2].results.get("test") or {}, ctx.sources)
            paired = uncertainty.difference([sides[True][2]], [sides[False][2]], langs, metric, ctx.profile)
        rows.append({"model": model, "task": task, "method": method, "plr": plr, "metric": metric,
                     "lr_noit": sides[False][0], "val_noit": sides[False][1], "lr_it": sides[True][0], "val_it": sides[True][1], "diff": diff,
                     "paired": paired})
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


def vs_full_rows(ctx: Context) -> list[list[str]]:
    """Each method at its chosen setting minus full finetuning at its chosen setting, paired on the same examples."""
    rows = []
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            bars = chosen_bars(ctx, model, task)
            full = next((b for b in bars if b["method"] == "full" and b["kind"] == "protocol"), None)
            if not metric or full is None or full["metric_mean"] is None:
                continue
            for b in bars:
                if b is full or b["metric_mean"] is None or b["kind"] == "translation":
                    continue
                iv = uncertainty.difference(b["runs"], full["runs"], full["targets"], metric, ctx.profile)
                rows.append([model, task, b["method"], b["kind"], metric, num(b["metric_mean"]), num(full["metric_mean"]),
                             signed(b["metric_mean"] - full["metric_mean"]), uncertainty.fmt_diff(iv)])
    return rows


def lang_cell(b: dict, key: str, lang: str, metric: str, ctx: Context) -> str:
    """A per-language number with its 95% interval, and the other metric profile's number where they differ by more
    than a point."""
    digits = all_measures()[key].digits if key in all_measures() else 2
    text = num(b["per_lang"][key][lang], digits)
    iv = b["per_lang_ci"].get(key, {}).get(lang)
    if iv is not None:
        text += f" [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"
    other = b["per_lang_other"].get(lang) if key == metric else None
    value = b["per_lang"][key][lang]
    if other is not None and value is not None and abs(other - value) > 1.0:
        text += f" ({ctx.other_profile} {other:.{digits}f})"
    return text


def annotated_decisions(ctx: Context) -> list[dict]:
    """The protocol's decisions with the paired difference chosen - candidate on the selection split."""
    by_name = {key.name: r for (kind, key), r in ctx.index.items() if kind == "protocol" and r.status == "done"}
    return uncertainty.annotate_decisions(ctx.protocol.decisions(), by_name.get, ctx.metrics.get, ctx.profile, ctx.sources,
                                          "test" if ctx.cfg.select_on == "test" else "dev")
