"""The transfer study's report, rebuilt from the run directories alone (index.json, study.json, results.json and the
predictions of every run): nothing is computed during the study that the report could not recompute.

- the matrix: transfer score = target metric with minus without the transfer step, mean / std / n over seeds, per
  step budget k (`matrix.csv`, a heatmap per k and metric, diverging colours centred at 0; unseen targets starred);
- findings, computed: per target the share of transfer languages that help (mean > 0 by more than the seed
  standard deviation) or hurt, seen vs unseen targets, the best transfer language and its margin over the next;
- baseline intervals: 95% bootstrap over evaluation examples (xlgen.metrics.bootstrap), the noise floor of every
  difference;
- interference: score(fused group) - score(best single adapter of the group) per target, with a paired bootstrap
  interval over the same examples (`interference.csv`, a table and a plot).
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

import numpy as np

from xlgen.errors import XlgenError
from xlgen.metrics import bootstrap
from xlgen.io import atomic_write_text, read_json, read_jsonl_lenient
from xlgen.transfer.pretraining_languages import list_for_model, pretraining_languages, status

METRIC_NAMES = {"f1": "F1", "exact_match": "EM", "accuracy": "accuracy", "lang_correct": "language-correct rate", "rougeL": "ROUGE-L"}


# ---- reading -----------------------------------------------------------------------------------------------------


def load(study_dir: Path) -> dict:
    study_dir = Path(study_dir)
    for name in ("study.json", "index.json"):
        if not (study_dir / name).is_file():
            raise XlgenError(f"{study_dir}: no {name}; is this the output_dir of `xlgen transfer`?")
    study, index = read_json(study_dir / "study.json"), read_json(study_dir / "index.json")
    runs = []
    for name, entry in index.items():
        d = Path(entry["run_dir"])
        res = d / "results.json"
        runs.append({"name": name, **entry, "results": read_json(res) if res.is_file() else None, "failed": (d / "failed.json").is_file()})
    return {"study": study, "runs": runs, "dir": study_dir}


def _rows(run_dir: str, lang: str) -> list[dict]:
    return read_jsonl_lenient(Path(run_dir) / "predictions" / f"{lang}.jsonl")


def _per_example(rows: list[dict], metric: str):
    """Per-example values whose mean is the metric (QA F1, 0/100 language verdicts, NLI correctness), or None when
    the metric is not a mean over examples (word accuracy, entity F1)."""
    if metric == "lang_correct" and rows and "lang_ok" in rows[0]:
        return [100.0 * bool(r["lang_ok"]) for r in rows]
    if rows and "score" in rows[0] and "total" not in rows[0] and "gold_tags" not in rows[0]:
        return [float(r["score"]) for r in rows]
    return None


def _corpus_stat(rows: list[dict]):
    """The metric of a subset of rows (by index) for corpus-level metrics: word accuracy or seqeval entity F1."""
    if rows and "total" in rows[0]:
        correct, total = np.array([r["correct"] for r in rows], float), np.array([r["total"] for r in rows], float)
        return lambda idx: 100.0 * correct[idx].sum() / max(total[idx].sum(), 1.0)
    if rows and "gold_tags" in rows[0]:
        from seqeval.metrics import f1_score

        return lambda idx: 100.0 * f1_score([rows[i]["gold_tags"] for i in idx], [rows[i]["pred_tags"] for i in idx])
    return None


def bootstrap_ci(rows: list[dict], metric: str) -> tuple[float, float] | None:
    """95% percentile bootstrap over the evaluation examples (xlgen.metrics.bootstrap)."""
    if not rows:
        return None
    values = _per_example(rows, metric)
    if values is not None:
        iv = bootstrap.mean_interval(values)
        return iv.low, iv.high
    stat = _corpus_stat(rows)
    if stat is None:
        return None
    iv = bootstrap.metric_interval(stat, len(rows), resamples=200 if "gold_tags" in rows[0] else bootstrap.RESAMPLES)
    return iv.low, iv.high


def paired_bootstrap_ci(a: list[dict], b: list[dict], metric: str) -> tuple[float, float] | None:
    """Interval of metric(a) - metric(b) over the examples both scored, the same resampled examples on both sides."""
    bid = {r["id"]: r for r in b}
    pairs = [(r, bid[r["id"]]) for r in a if r["id"] in bid]
    if not pairs:
        return None
    ra, rb = [p[0] for p in pairs], [p[1] for p in pairs]
    va, vb = _per_example(ra, metric), _per_example(rb, metric)
    if va is not None and vb is not None:
        iv = bootstrap.paired_difference(va, vb)
        return iv.low, iv.high
    sa, sb = _corpus_stat(ra), _corpus_stat(rb)
    if sa is None or sb is None:
        return None
    iv = bootstrap.metric_interval(lambda idx: sa(idx) - sb(idx), len(pairs), resamples=200 if "gold_tags" in ra[0] else bootstrap.RESAMPLES)
    return iv.low, iv.high


# ---- computing ---------------------------------------------------------------------------------------------------


def _mean_std(xs: list[float]) -> tuple[float, float, int]:
    n = len(xs)
    return (statistics.fmean(xs), statistics.stdev(xs) if n > 1 else 0.0, n) if n else (math.nan, math.nan, 0)


def compute(data: dict) -> dict:
    study, runs = data["study"], data["runs"]
    done = [r for r in runs if r["results"]]
    base = next((r for r in done if r["kind"] == "baseline"), None)
    if base is None:
        raise XlgenError(f"{data['dir']}: the baseline run has not finished; nothing to compare with")
    primary = base["results"]["primary_metric"]
    targets = list(base["results"]["test"])
    metrics = [primary] + (["lang_correct"] if "lang_correct" in base["results"]["test"][targets[0]] else [])
    model_name = (study.get("model_name") or "")
    key = study.get("pretraining_languages") or list_for_model(model_name)
    plist = study.get("pretraining_language_list") or (pretraining_languages(key) if key else None)
    seen = {t: status(t, plist) for t in targets}
    baseline = {m: {t: base["results"]["test"][t][m] for t in targets} for m in metrics}
    base_ci = {m: {t: bootstrap_ci(_rows(base["run_dir"], t), m) for t in targets} for m in metrics}

    cells = [r for r in done if r["kind"] == "transfer"]
    langs = list(dict.fromkeys(study["transfer"]["languages"]))
    langs = [lang for lang in dict.fromkeys(r["transfer"] for r in runs if r["kind"] == "transfer")] or langs
    ks = sorted({r["steps"] for r in runs if r["kind"] == "transfer"})
    matrix = {}  # (metric, k, T, target) -> (mean delta, std, n, mean score)
    for m in metrics:
        for k in ks:
            for T in langs:
                for t in targets:
                    scores = [r["results"]["test"][t][m] for r in cells if r["steps"] == k and r["transfer"] == T]
                    mean, std, n = _mean_std([s - baseline[m][t] for s in scores])
                    matrix[(m, k, T, t)] = (mean, std, n, statistics.fmean(scores) if scores else math.nan)

    findings = {}
    for m in metrics:
        for k in ks:
            per_target = {}
            for t in targets:
                vals = {T: matrix[(m, k, T, t)] for T in langs if matrix[(m, k, T, t)][2]}
                # one seed has no spread to exceed: helps/hurts need two or more
                helps = [T for T, (mu, sd, n, _) in vals.items() if n > 1 and mu > 0 and mu > sd]
                hurts = [T for T, (mu, sd, n, _) in vals.items() if n > 1 and mu < 0 and -mu > sd]
                ranked = sorted(vals.items(), key=lambda kv: -kv[1][0])
                best = ranked[0] if ranked else None
                margin = (ranked[0][1][0] - ranked[1][1][0]) if len(ranked) > 1 else math.nan
                spread = max(ranked[0][1][1], ranked[1][1][1]) if len(ranked) > 1 else math.nan
                per_target[t] = {"n_transfer": len(vals), "helps": helps, "hurts": hurts,
                                 "share_helps": len(helps) / len(vals) if vals else math.nan,
                                 "share_hurts": len(hurts) / len(vals) if vals else math.nan,
                                 "best": best[0] if best else None, "best_delta": best[1][0] if best else math.nan,
                                 "best_std": best[1][1] if best else math.nan, "runner_up": ranked[1][0] if len(ranked) > 1 else None,
                                 "margin": margin, "margin_beyond_spread": bool(margin > spread) if len(ranked) > 1 else False,
                                 "mean_delta": statistics.fmean(v[0] for v in vals.values()) if vals else math.nan}  # fmt: skip
            groups = {}
            for s in ("seen", "unseen", "unknown"):
                ts = [t for t in targets if seen[t] == s]
                if ts:
                    groups[s] = {"targets": ts, "share_helps": statistics.fmean(per_target[t]["share_helps"] for t in ts),
                                 "mean_delta": statistics.fmean(per_target[t]["mean_delta"] for t in ts)}
            findings[(m, k)] = {"per_target": per_target, "by_status": groups}

    interference = []
    fus = {tuple(r["group"]): r for r in done if r["kind"] == "fusion"}
    for group, run in fus.items():
        if len(group) < 2:
            continue
        singles = {x: fus.get((x,)) for x in group}
        if any(v is None for v in singles.values()):
            continue
        for t in targets:
            for m in metrics:
                best_x = max(group, key=lambda x: singles[x]["results"]["test"][t][m])
                g_score = run["results"]["test"][t][m]
                s_score = singles[best_x]["results"]["test"][t][m]
                ci = paired_bootstrap_ci(_rows(run["run_dir"], t), _rows(singles[best_x]["run_dir"], t), m)
                interference.append({"group": "+".join(group), "size": len(group), "target": t, "metric": m, "fused": g_score,
                                     "best_single": best_x, "best_single_score": s_score, "interference": g_score - s_score,
                                     "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None})  # fmt: skip
    singles_table = {x[0]: r["results"]["test"] for x, r in fus.items() if len(x) == 1}
    return {"primary": primary, "metrics": metrics, "targets": targets, "langs": langs, "ks": ks, "seen": seen, "list": key,
            "list_known": plist is not None, "baseline": baseline, "baseline_ci": base_ci, "matrix": matrix, "findings": findings,
            "interference": interference, "singles": singles_table, "runs": runs}  # fmt: skip


# ---- writing -----------------------------------------------------------------------------------------------------


def _f(x, digits=1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _label(t: str, seen: dict) -> str:
    return t + ("*" if seen[t] == "unseen" else "")


def write_csvs(c: dict, out: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["metric", "steps", "transfer", "target", "target_pretraining", "baseline", "mean_score", "mean_delta", "std_delta", "n_seeds"])
    for (m, k, T, t), (mu, sd, n, score) in c["matrix"].items():
        w.writerow([m, k, T, t, c["seen"][t], f"{c['baseline'][m][t]:.4f}", f"{score:.4f}", f"{mu:.4f}", f"{sd:.4f}", n])
    atomic_write_text(out / "matrix.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["group", "size", "target", "metric", "fused", "best_single", "best_single_score", "interference", "ci_low", "ci_high"])
    for r in c["interference"]:
        w.writerow([r[k] if not isinstance(r[k], float) else f"{r[k]:.4f}" for k in ("group", "size", "target", "metric", "fused", "best_single", "best_single_score", "interference", "ci_low", "ci_high")])
    atomic_write_text(out / "interference.csv", buf.getvalue())


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def heatmap(c: dict, m: str, k: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    vals = [[c["matrix"][(m, k, T, t)][0] for t in c["targets"]] for T in c["langs"]]
    flat = [abs(v) for row in vals for v in row if not math.isnan(v)]
    lim = max(flat + [0.5])
    fig, ax = plt.subplots(figsize=(1.1 + 0.8 * len(c["targets"]), 1.0 + 0.55 * len(c["langs"])))
    im = ax.imshow(vals, cmap="RdBu", norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim), aspect="auto")
    ax.set_xticks(range(len(c["targets"])), [_label(t, c["seen"]) for t in c["targets"]])
    ax.set_yticks(range(len(c["langs"])), c["langs"])
    ax.set_xlabel("target language" + ("  (* unseen in pretraining)" if any(s == "unseen" for s in c["seen"].values()) else ""))
    ax.set_ylabel("transfer language")
    for i, T in enumerate(c["langs"]):
        for j, t in enumerate(c["targets"]):
            mu, sd, n, _ = c["matrix"][(m, k, T, t)]
            dark = n and not math.isnan(mu) and abs(mu) > 0.6 * lim
            ax.text(j, i, (f"{_f(mu)}\n±{_f(sd)}" if n > 1 else f"{_f(mu)}\nn=1") if n else "–", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_title(f"transfer score ({METRIC_NAMES.get(m, m)}), k = {k} steps")
    fig.colorbar(im, ax=ax, shrink=0.8, label="with - without transfer step")
    _save(fig, path)


def interference_plot(c: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in c["interference"] if r["metric"] == c["primary"]]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(c["targets"]), 3.2))
    width = 0.8 / max(len(groups), 1)
    for gi, g in enumerate(groups):
        xs, ys, lo, hi = [], [], [], []
        for ti, t in enumerate(c["targets"]):
            r = next((r for r in rows if r["group"] == g and r["target"] == t), None)
            if r is None:
                continue
            xs.append(ti + (gi - (len(groups) - 1) / 2) * width)
            ys.append(r["interference"])
            lo.append(r["interference"] - r["ci_low"] if r["ci_low"] is not None else 0)
            hi.append(r["ci_high"] - r["interference"] if r["ci_high"] is not None else 0)
        ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=2, label=g)
    ax.axhline(0, color="black", lw=0.8)
    ax.margins(y=0.15)
    ax.set_xticks(range(len(c["targets"])), [_label(t, c["seen"]) for t in c["targets"]])
    ax.set_ylabel(f"fused - best single ({METRIC_NAMES.get(c['primary'], c['primary'])})")
    ax.set_title("negative interference: AdapterFusion of language adapters under the task adapter")
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def render(c: dict, data: dict, out: Path, command: str | None) -> str:
    s = data["study"]
    prim = c["primary"]
    L = [f"# Transfer-language study: {s['name']}", ""]
    L += ["The protocol of arXiv 2403.20088: a task adapter trained once on the source language; for each "
          "transfer language T and step budget k the base model is finetuned k steps on unlabelled T text with the backbone's "
          "own objective, the unchanged task adapter re-attached, and every target evaluated. Transfer score = target metric "
          "with minus without the transfer step. Built from the run directories by `xlgen transfer-report`; numbers as measured.", ""]
    if command:
        L += ["Produced by:", "", f"    {command}", ""]
    checks = s.get("checks", {})
    L += ["## Setting", "",
          f"- base run config: `{Path(s['base']).name}`; study overrides: `{s.get('overrides')}`",
          f"- task adapter: `{s.get('task_adapter')}`",
          f"- transfer languages: {', '.join(c['langs'])}; step budgets k: {c['ks']}; seeds: {s['seeds']} (the seed drives the transfer step's data order); transfer overrides: `{s['transfer'].get('overrides')}`",
          f"- targets: {', '.join(c['targets'])}; evaluation examples per target: {checks.get('eval_examples')}",
          f"- raw-text lines per transfer language (all checked against every evaluation sentence, none overlaps): {checks.get('raw_lines_checked')}",
          "- pretraining languages: " + (f"list `{c['list']}`" if c["list_known"] else f"no published list for this model (`{c['list']}`): every target's status is unknown" if c["list"] else "no list given: status unknown"),
          ""]  # fmt: skip
    runs = c["runs"]
    n_done = sum(1 for r in runs if r["results"])
    n_fail = sum(1 for r in runs if r["failed"] and not r["results"])
    secs = sum((r["results"] or {}).get("seconds", 0) or 0 for r in runs)
    L += [f"Runs: {n_done} finished, {n_fail} failed, {len(runs) - n_done - n_fail} unfinished, of {len(runs)}; cell wall time (sum) {secs / 60:.1f} min.", ""]
    L += ["## Baseline (task adapter, no transfer step)", "", "95% bootstrap intervals over the evaluation examples: the noise floor of every difference below.", ""]
    L += ["| metric | " + " | ".join(_label(t, c["seen"]) for t in c["targets"]) + " |", "|---" * (len(c["targets"]) + 1) + "|"]
    for m in c["metrics"]:
        cells = []
        for t in c["targets"]:
            ci = c["baseline_ci"][m][t]
            cells.append(f"{_f(c['baseline'][m][t])} [{_f(ci[0])}, {_f(ci[1])}]" if ci else _f(c["baseline"][m][t]))
        L.append(f"| {METRIC_NAMES.get(m, m)} | " + " | ".join(cells) + " |")
    L += ["", "Target status: " + ", ".join(f"{t}: {c['seen'][t]}" for t in c["targets"]) + " (* = unseen in pretraining).", ""]
    L += ["## Transfer scores", "", f"Mean ± standard deviation over seeds ({len(s['seeds'])} per cell; fewer where marked `n=`, `–` where none finished) "
          "of score with minus without the transfer step. `matrix.csv` has every number.", ""]

    def cell(m, k, T, t):
        mu, sd, n, _ = c["matrix"][(m, k, T, t)]
        if not n:
            return "–"
        if n == 1:
            return f"{_f(mu)} (n=1)"
        return f"{_f(mu)} ± {_f(sd)}" + (f" (n={n})" if n < len(s["seeds"]) else "")

    for m in c["metrics"]:
        for k in c["ks"]:
            name = f"heatmap_{m}_k{k}.png"
            L += [f"### {METRIC_NAMES.get(m, m)}, k = {k}", "", f"![transfer scores {m} k={k}]({name})", ""]
            L += ["| transfer \\ target | " + " | ".join(_label(t, c["seen"]) for t in c["targets"]) + " |", "|---" * (len(c["targets"]) + 1) + "|"]
            for T in c["langs"]:
                L.append(f"| {T} | " + " | ".join(cell(m, k, T, t) for t in c["targets"]) + " |")
            L.append("")
    L += ["## Findings (computed)", "",
          "A transfer language *helps* a target when its mean transfer score is positive and larger than its seed standard "
          "deviation, *hurts* when negative beyond it; the rest is within the noise. With 2 seeds the standard deviation is "
          "itself very uncertain, so read the shares as descriptive, not as tests.", ""]  # fmt: skip
    for prim, k in [(m, k) for m in c["metrics"] for k in c["ks"]]:
        f = c["findings"][(prim, k)]
        L += [f"### {METRIC_NAMES.get(prim, prim)}, k = {k}", "",
              "| target | status | helps | hurts | share helping | best transfer | its score | margin over next | beyond seed spread |", "|---|---|---|---|---|---|---|---|---|"]
        for t, p in f["per_target"].items():
            best = p["best"] or "–"
            if p["runner_up"] and p["margin"] == 0:
                best = "none (tied)"
            L.append(f"| {t} | {c['seen'][t]} | {', '.join(p['helps']) or '–'} | {', '.join(p['hurts']) or '–'} | {_f(100 * p['share_helps'], 0)}% | "
                     f"{best} | {_f(p['best_delta'])} ± {_f(p['best_std'])} | {_f(p['margin'])} (vs {p['runner_up'] or '–'}) | {'yes' if p['margin_beyond_spread'] else 'no'} |")
        L.append("")
        L += ["| targets | n | mean share of transfer languages helping | mean transfer score |", "|---|---|---|---|"]
        for st, g in f["by_status"].items():
            L.append(f"| {st} | {len(g['targets'])} | {_f(100 * g['share_helps'], 0)}% | {_f(g['mean_delta'])} |")
        if set(f["by_status"]) <= {"unknown"}:
            L.append("")
            L.append("Seen vs unseen cannot be compared here: no published pretraining-language list for this model.")
        L.append("")
    if c["interference"]:
        L += ["## Negative interference", "",
              "Language adapters trained per language on raw text; AdapterFusion over each single adapter, pair and larger group, "
              "under the frozen task adapter, the fusion trained on the source-language task data (first seed only). Interference = "
              "score(fused group) − score(best single adapter of the group) on each target; negative = the group does worse than "
              "its best member. Interval: 95% paired bootstrap over the same evaluation examples.", "",
              "![interference](interference.png)", ""]  # fmt: skip
        L += ["| group | target | metric | fused | best single | its score | interference [95% CI] |", "|---|---|---|---|---|---|---|"]
        for r in c["interference"]:
            ci = f" [{_f(r['ci_low'])}, {_f(r['ci_high'])}]" if r["ci_low"] is not None else ""
            L.append(f"| {r['group']} | {r['target']} | {METRIC_NAMES.get(r['metric'], r['metric'])} | {_f(r['fused'])} | {r['best_single']} | {_f(r['best_single_score'])} | {_f(r['interference'])}{ci} |")
        prim = c["primary"]
        neg = [r for r in c["interference"] if r["metric"] == prim and r["ci_high"] is not None and r["ci_high"] < 0]
        pos = [r for r in c["interference"] if r["metric"] == prim and r["ci_low"] is not None and r["ci_low"] > 0]
        tot = sum(1 for r in c["interference"] if r["metric"] == prim)
        L += ["", f"Of {tot} (group, target) pairs on {METRIC_NAMES.get(prim, prim)}: {len(neg)} show interference whose whole interval is below 0, {len(pos)} a gain whose whole interval is above 0, the rest are within the noise.", ""]
    return "\n".join(L) + "\n"


def write_report(study_dir: str | Path, out: str | Path | None = None, command: str | None = None) -> dict[str, Path]:
    data = load(Path(study_dir))
    out = Path(out) if out else Path(study_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    c = compute(data)
    write_csvs(c, out)
    for m in c["metrics"]:
        for k in c["ks"]:
            heatmap(c, m, k, out / f"heatmap_{m}_k{k}.png")
    if c["interference"]:
        interference_plot(c, out / "interference.png")
    atomic_write_text(out / "report.md", render(c, data, out, command))
    return {"report": out / "report.md", "matrix": out / "matrix.csv", "interference": out / "interference.csv"}
