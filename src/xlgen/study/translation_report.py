"""Report parts for the data-translation baselines of a study (`translation:` in the study file): the translate-test
bar of Figure 2 (translate-train is a method, so it has its bar already), and the paper's Table 2 and Table 3
analogues. Numbers come from the run directories only: `RUN_DIR/translation/<mode>.json`, written by the driver."""

from __future__ import annotations

from dataclasses import dataclass

from xlgen.io import read_json
from xlgen.study.collect import Context, done_run
from xlgen.study.protocol import RunKey
from xlgen.study.translation import evaluation_path


@dataclass
class Evaluated:
    """A run as seen through a translation evaluation: the run's own results with the evaluated test metrics, in the
    shape the bar and cost tables read (`results`, `seed`, `dir`)."""

    results: dict
    seed: int
    dir: object


def _tc(ctx: Context) -> dict | None:
    return ctx.study.get("translation")


def _selected(ctx: Context, model: str, task: str, method: str) -> dict | None:
    row = next((r for r in ctx.selection if (r["model"], r["task"], r["method"]) == (model, task, method)), None)
    return row["selected"] if row and row["selected"] and row["selected"]["lr"] is not None else None


def translate_test_bars(ctx: Context, model: str, task: str) -> list[dict]:
    """Figure 2: the chosen runs of the base method evaluated with translated inputs and outputs, as one bar."""
    from xlgen.study.tables import _bar

    tc = _tc(ctx)
    if not tc or not tc.get("translate_test", True):
        return []
    base = tc.get("base_method", "full")
    s = _selected(ctx, model, task, base)
    if s is None:
        return []
    runs = []
    for seed in ctx.study["seeds"]:
        r = done_run(ctx.index, "protocol", RunKey(model, task, base, s["lr"], s["it"], seed))
        p = evaluation_path(r.dir, "translate-test") if r else None
        if p is not None and p.is_file():
            runs.append(Evaluated({**r.results, "test": read_json(p)["test"]}, seed, r.dir))
    missing = len(ctx.study["seeds"]) - len(runs)
    status = "complete" if not missing else f"{missing} translate-test evaluation(s) missing"
    return [_bar(ctx, f"translate-test ({base})", "translation", s["lr"], s["it"], runs, ctx.metrics.get(task), status)]


def table2_rows(ctx: Context) -> list[list[str]]:
    from xlgen.study.tables import chosen_bars, it_text, lr_text, num

    tc = _tc(ctx)
    base, tt = tc.get("base_method", "full"), tc.get("method_name", "translate_train")
    rows = []
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            bars = {b["method"]: b for b in chosen_bars(ctx, model, task)}
            for name, label in ((base, f"zero-shot: {base}"), (tt, "data translation: translate-train"), (f"translate-test ({base})", "data translation: translate-test")):
                b = bars.get(name)
                if b is None:
                    continue
                pm = "" if b["metric_std"] is None else f" ± {num(b['metric_std'])}"
                rows.append([model, task, label, lr_text(b["lr"]), it_text(b["it"]), str(len(b["seeds"])), num(b["metric_mean"]) + pm, num(b["lcr_mean"]), b["status"]])
    return rows


def table3_rows(ctx: Context) -> list[dict]:
    """Per model x task: the best-English-LR run of the base method with translated outputs against the run at the
    best-non-English LR (the protocol's PLR), both first seed and without IT, on the test target average."""
    from xlgen.study.tables import target_avg

    base = _tc(ctx).get("base_method", "full")
    seed0 = ctx.study["seeds"][0]
    rows = []
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            row = {"model": model, "task": task, "metric": metric, "en_lr": None, "en_translated": None, "en_direct": None, "plr": None, "plr_score": None}
            for (kind, key), r in ctx.index.items():
                if kind != "protocol" or (key.model, key.task, key.method, key.it, key.seed) != (model, task, base, False, seed0) or r.status != "done":
                    continue
                p = evaluation_path(r.dir, "translated-outputs")
                if p.is_file() and metric:
                    row["en_lr"] = key.lr
                    row["en_translated"] = target_avg(read_json(p)["test"], metric, ctx.sources)
                    row["en_direct"] = target_avg(r.results.get("test") or {}, metric, ctx.sources)
            row_sel = next((x["selected"] for x in ctx.selection if (x["model"], x["task"], x["method"]) == (model, task, base)), None)
            if row_sel and row_sel.get("plr") is not None:
                row["plr"] = row_sel["plr"]
                r = done_run(ctx.index, "protocol", RunKey(model, task, base, row_sel["plr"], False, seed0))
                row["plr_score"] = target_avg(r.results.get("test") or {}, metric, ctx.sources) if r and metric else None
            rows.append(row)
    return rows


def section_translation(doc, ctx: Context) -> None:
    """Tables 2 and 3; nothing when the study has no `translation:` section."""
    from xlgen.study.tables import lr_text, num

    tc = _tc(ctx)
    if not tc:
        return
    doc.heading(2, "Table 2 analogue: zero-shot transfer vs data translation")
    doc.para("Task metric and language-correct rate averaged over non-source test languages at each approach's chosen setting, mean ± "
             "sample std over seeds. translate-train trains on the source data and its translations, with its own LR search; "
             "translate-test evaluates the chosen zero-shot runs with inputs translated into the source language and outputs back "
             f"(translator: {tc.get('translator')}).")
    doc.table(["model", "task", "approach", "LR", "IT", "seeds", "metric", "LCR", "status"], table2_rows(ctx))
    base = tc.get("base_method", "full")
    doc.heading(2, "Table 3 analogue: best-English LR with translated outputs vs best-non-English LR")
    doc.para(f"{base} without IT, first seed, test metric averaged over non-source languages. The best-English LR is chosen on the "
             "source-language validation score (the test score where the source language has no validation set); its outputs are "
             "translated into each target language. 'untranslated' is the same run scored on its raw outputs. The best-non-English LR "
             "is the protocol's PLR.")
    rows = [[r["model"], r["task"], r["metric"] or "n/a", lr_text(r["en_lr"]), num(r["en_translated"]), num(r["en_direct"]), lr_text(r["plr"]), num(r["plr_score"])]
            for r in table3_rows(ctx)]
    doc.table(["model", "task", "metric", "best-En LR", "+ translated outputs", "untranslated", "best-non-En LR (PLR)", "score"], rows)
