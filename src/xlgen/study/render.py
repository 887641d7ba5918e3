"""Rendering a study report: its sections written once, as Markdown (report.md), which the `markdown` library turns
into a self-contained page (report.html, figures inlined), so the two cannot disagree."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from xlgen.metrics import measure
from xlgen.study.collect import STATUS_ORDER, Context, run_order
from xlgen.study.figures import plot_fig2, plot_lr_curves, safe_name
from xlgen.study.protocol import canon_lr, fmt_lr
from xlgen.study import dynamics, guards, model_comparison, uncertainty
from xlgen.study.translation_report import section_translation
from xlgen.study.tables import DIAGNOSTICS, annotated_decisions, chosen_bars, cost_rows, it_effect_rows, it_text, lang_cell, lr_text, num, signed, vs_full_rows


class Doc:
    """A Markdown document being written, and the figures it shows."""

    def __init__(self, out: Path):
        self.out, self.parts, self.figures = out, [], {}

    def heading(self, level: int, text: str) -> None:
        self.parts.append("#" * level + " " + text)

    def para(self, text: str) -> None:
        self.parts.append(text)

    def table(self, headers: list[str], rows: list[list]) -> None:
        cell = lambda s: " ".join(str(s).split()).replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "---|" * len(headers)]
        self.parts.append("\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows]))

    def bullets(self, items: list) -> None:
        """Items are strings or (text, [sub-items])."""
        lines = []
        for item in items:
            head, subs = (item, []) if isinstance(item, str) else item
            lines += [f"- {head}", *[f"    - {s}" for s in subs]]
        self.parts.append("\n".join(lines))

    def figure(self, path: Path, alt: str) -> None:
        self.figures[path.stem] = path
        self.parts.append(f"![{alt}]({path.name})")

    def markdown(self) -> str:
        return "\n\n".join(self.parts) + "\n"


# ---- sections -------------------------------------------------------------------------------------------------------


def report_title(ctx: Context) -> str:
    title = f"Study report: {ctx.study.get('name', ctx.study_dir.name)}"
    return title + " (selected on test data)" if ctx.cfg.select_on == "test" else title


def profile_note(ctx: Context) -> str:
    if not ctx.profile:
        return ""
    langid = next((m.get("langid_model") for r in ctx.runs if r.status == "done" for m in (r.results.get("test") or {}).values()
                   if m.get("langid_model")), None)
    return (f" Task metrics are the '{ctx.profile}' metric profile (task.metric_profile); 95% CI: percentile bootstrap over "
            "test examples (1000 resamples, seed 0; averages resample within each language; seeds averaged per example first)."
            + (f" Language ID: {langid}." if langid else ""))


PAIRED_NOTE = ("Paired 95% CI: percentile bootstrap of the difference over the same test examples (1000 resamples, seed 0; "
               "examples resampled within each language); \"within noise\" where it includes 0.")


def section_intro(doc: Doc, ctx: Context) -> None:
    st, cfg = ctx.study, ctx.cfg
    doc.heading(1, report_title(ctx))
    doc.para(f"Built from the run directories under {ctx.study_dir / 'runs'} and study.json only; the LR selection is "
             f"recomputed by replaying the protocol on the runs' outcomes (selection.json is not read). "
             f"Target-language averages exclude the source language(s) {', '.join(ctx.sources)}. Machine-readable numbers: results.csv.")
    doc.bullets([
        f"models: {', '.join(st['models'])}; tasks: {', '.join(st['tasks'])}; methods: {', '.join(st['methods'])}; seeds: {st['seeds']}",
        f"protocol: start LRs {[fmt_lr(x) for x in cfg.start_lrs]}, range [{fmt_lr(cfg.min_lr)}, {fmt_lr(cfg.max_lr)}], "
        f"multipliers {cfg.multipliers}, IT options {cfg.use_it_options}, language-correct floor {cfg.lang_correct_floor}",
        "protocol state: " + ("done" if ctx.protocol.done() else f"not done, waiting for {len(ctx.waiting)} run(s): " + ", ".join(k.name for k in ctx.waiting)),
    ])


def section_counts(doc: Doc, ctx: Context, unknown_dirs: int) -> None:
    rows = []
    for kind in ("protocol", "reference", "intermediate"):
        rs = [r for r in ctx.runs if r.kind == kind]
        counts = [sum(r.status == s for r in rs) for s in STATUS_ORDER]
        rows.append([kind, *map(str, counts), str(sum(r.superseded for r in rs)), str(len(rs))])
    doc.heading(2, "Run counts")
    doc.table(["kind", *STATUS_ORDER, "superseded", "total"], rows)
    extra = []
    no_dir = [k for k in ctx.waiting if ("protocol", k) not in ctx.index]
    if no_dir:
        extra.append(f"{len(no_dir)} run(s) the protocol needs have no run directory yet")
    if unknown_dirs:
        extra.append(f"{unknown_dirs} director(ies) under runs/ have no study_key.json and were skipped")
    if extra:
        doc.bullets(extra)


def section_table4(doc: Doc, ctx: Context) -> None:
    rows = []
    for row in ctx.selection:
        s = row["selected"] or {}
        via = "own search" if row["plr_from"] == row["method"] else f"{row['plr_from']} (derived)"
        rows.append([row["model"], row["task"], row["method"], lr_text(s.get("lr")), it_text(s.get("it")), lr_text(s.get("plr")), via,
                     num(s.get("metric")), num(s.get("lang_correct")), row["status"]])
    doc.heading(2, "Table 4 analogue: chosen learning rate and intermediate tuning")
    split = "test" if ctx.cfg.select_on == "test" else "validation"
    doc.para(f"Selection metric and language-correct rate (LCR) are {split} averages over non-source languages, first seed.")
    doc.table(["model", "task", "method", "LR", "IT", "PLR", "PLR from", "selection metric", "selection LCR", "status"], rows)


def section_fig2(doc: Doc, ctx: Context) -> None:
    doc.heading(2, "Figure 2 analogue: methods at their chosen settings")
    doc.para("Test metric and LCR averaged over non-source test languages, mean over seeds; error bars and std: "
             "sample standard deviation over seeds (none with one seed). Hatched bars: reference runs at a fixed LR and "
             "translate-test evaluations of the chosen runs." + profile_note(ctx))
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            bars = chosen_bars(ctx, model, task)
            doc.heading(3, f"{model} / {task}")
            if metric and any(b["metric_mean"] is not None for b in bars):
                png = ctx.out / f"fig2_{safe_name(model, task)}.png"
                plot_fig2(bars, metric, f"{model} / {task}: methods at their chosen settings", png)
                doc.figure(png, f"Figure 2 analogue for {model} / {task}")
            m = metric or "metric"
            other = ctx.other_profile
            rows = [[b["method"], b["kind"], lr_text(b["lr"]), it_text(b["it"]), str(len(b["seeds"])), num(b["metric_mean"]), uncertainty.fmt(b["metric_ci"]),
                     num(b["metric_std"]), *([num(b["per_lang_other"].get("avg"))] if other else []),
                     num(b["lcr_mean"]), uncertainty.fmt(b["lcr_ci"]), num(b["lcr_std"]), b["status"]] for b in bars]
            doc.table(["method", "kind", "LR", "IT", "seeds", f"{m} mean", f"{m} 95% CI", f"{m} std", *([f"{m} ({other})"] if other else []),
                       "LCR mean", "LCR 95% CI", "LCR std", "status"], rows)


def section_costs(doc: Doc, ctx: Context) -> None:
    doc.heading(2, "Costs at the chosen settings")
    doc.para("Trainable parameters and their share, the size of the saved model (only the trained parts, for methods that "
             "keep the base model), training throughput (source and target tokens per second, last logged window) and "
             "training time; means over the seeds that finished.")
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            doc.heading(3, f"{model} / {task}: costs")
            doc.table(["method", "kind", "LR", "IT", "seeds", "trainable (M)", "share (%)", "artifact (MiB)", "tokens/s", "train time (s)"],
                      cost_rows(ctx, model, task))


def section_table1(doc: Doc, ctx: Context) -> None:
    rows = [[r["model"], r["task"], r["method"], r["metric"] or "n/a", lr_text(r["plr"]), lr_text(r["lr_noit"]), num(r["val_noit"]),
             lr_text(r["lr_it"]), num(r["val_it"]), signed(r["diff"]), uncertainty.fmt_diff(r["paired"])] for r in it_effect_rows(ctx)]
    doc.heading(2, "Table 1 analogue: effect of intermediate tuning")
    doc.para(f"Best of PLR x {ctx.cfg.multipliers} with IT minus the same without IT (first seed, test average over non-source "
             f"languages). Each side's LR is picked as the protocol picks, on the validation metric; n/a where a side is missing. {PAIRED_NOTE}")
    if True not in ctx.cfg.use_it_options:
        doc.para("This study has no intermediate tuning, so every difference is n/a.")
    doc.table(["model", "task", "method", "metric", "PLR", "LR no IT", "no IT", "LR IT", "IT", "IT - no IT", "paired 95% CI"], rows)


def section_vs_full(doc: Doc, ctx: Context) -> None:
    doc.heading(2, "Methods vs full finetuning (paired)")
    doc.para("Test average over non-source languages, method minus full finetuning, both at their chosen settings, seed means. "
             + PAIRED_NOTE.replace("test examples", "test examples of all seeds"))
    rows = vs_full_rows(ctx)
    if rows:
        doc.table(["model", "task", "method", "kind", "metric", "value", "full finetuning", "difference", "paired 95% CI"], rows)
    else:
        doc.para("No comparison: full finetuning or the other methods have no results yet.")


def section_per_language(doc: Doc, ctx: Context) -> None:
    doc.heading(2, "Per-language test results at the chosen settings")
    doc.para("Mean over the seeds that finished; avg: over non-source languages." + profile_note(ctx)
             + (f" In parentheses: the '{ctx.other_profile}' profile's number where the two differ by more than 1 point." if ctx.profile else ""))
    for model in ctx.study["models"]:
        for task in ctx.study["tasks"]:
            metric = ctx.metrics.get(task)
            if not metric:
                continue
            bars = chosen_bars(ctx, model, task)
            for key in (metric, *DIAGNOSTICS):
                title = metric if key == metric else measure(key).label
                rows = [[b["method"], b["kind"], lr_text(b["lr"]), it_text(b["it"]), str(len(b["seeds"])),
                         *[lang_cell(b, key, lang, metric, ctx) for lang in ctx.langs], lang_cell(b, key, "avg", metric, ctx)] for b in bars]
                doc.heading(3, f"{model} / {task}: {title}")
                doc.table(["method", "kind", "LR", "IT", "seeds", *ctx.langs, "avg"], rows)
            flags = sorted({f for b in bars for r in b["runs"] for m in (r.results.get("test") or {}).values() for f in (m.get("flags") or [])})
            if flags:
                doc.bullets([f"flagged ({ctx.profile} profile): {f}" for f in flags])


def section_fig1(doc: Doc, ctx: Context) -> None:
    seed0 = ctx.study["seeds"][0]
    doc.heading(2, "Figure 1 analogue: effect of the learning rate")
    doc.para(f"Test metric, LCR and output length against LR for every run without IT and with the first seed ({seed0}); "
             "the source language in bold black, PLR dashed, failed runs dotted red.")
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
                plot_lr_curves([(r.lr, r.results.get("test", {})) for r in done], metric, ctx.sources, png,
                               title=f"{model} / {task} / {method}: effect of LR (no IT, seed {seed0})",
                               failed_lrs=sorted(r.lr for r in rs if r.status == "failed"), plr=plrs.get((model, task, method)))
                doc.heading(3, f"{model} / {task} / {method}")
                doc.figure(png, f"Figure 1 analogue for {model} / {task} / {method}")


# A candidate's share of empty outputs is named in its decision line from this share on: at 0 F1 and 0 LCR the
# numbers alone do not say the model stopped answering.
EMPTY_NOTE = 0.2


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
            empty = (d.get("empty_outputs") or {}).get(c["run"])
            if empty is not None and empty >= EMPTY_NOTE:
                res += f" ({'collapsed: every output empty' if empty == 1.0 else f'{100 * empty:.0f}% of outputs empty'})"
        else:
            res = f"failed ({c['error']})" if c["status"] == "failed" else "no result"
        pv = (d.get("paired_vs_chosen") or {}).get(c["run"])
        if pv:
            res += f"; chosen minus this: {pv['difference']:+.2f} [{pv['ci'][0]:+.2f}, {pv['ci'][1]:+.2f}]" + (" (within noise)" if c["run"] in d.get("within_noise", []) else "")
        subs.append(f"LR {fmt_lr(c['lr'])}, {'IT' if c['it'] else 'no IT'}, seed {c['seed']}: {res}" + (" [chosen]" if is_chosen else ""))
    if d.get("within_noise"):
        head = head.rstrip(". ") + (f". Within noise: the paired 95% CI of the chosen minus {len(d['within_noise'])} other eligible "
                                    "candidate(s) includes 0 on the selection examples, so this choice is not distinguishable from them.")
    return head, subs


def section_decisions(doc: Doc, ctx: Context) -> None:
    split = "test" if ctx.cfg.select_on == "test" else "validation"
    doc.heading(2, "Protocol decisions")
    doc.para(f"In the order the protocol took them; metrics are {split} averages over non-source languages. \"Chosen minus this\": "
             f"paired bootstrap over the same {split} examples (95%, 1000 resamples, seed 0), marked within noise where it includes 0.")
    doc.bullets([decision_item(d, ctx.metrics.get(d["task"])) for d in annotated_decisions(ctx)] or ["no decision yet"])


def section_failed(doc: Doc, ctx: Context) -> None:
    rows = [[r.kind, r.key.name if r.kind != "intermediate" else f"{r.model}/intermediate", str(r.dir), r.error or ""]
            for r in sorted((r for r in ctx.runs if r.status == "failed"), key=run_order)]
    doc.heading(2, "Failed runs")
    doc.table(["kind", "run", "run_dir", "error"], rows) if rows else doc.para("None.")


def section_notes(doc: Doc, ctx: Context) -> None:
    if ctx.notes:
        doc.heading(2, "Notes")
        doc.bullets(ctx.notes)


def study_document(ctx: Context, unknown_dirs: int) -> Doc:
    """The whole report, section by section (drawing its figures into ctx.out)."""
    doc = Doc(ctx.out)
    section_intro(doc, ctx)
    section_counts(doc, ctx, unknown_dirs)
    section_table4(doc, ctx)
    section_fig2(doc, ctx)
    section_translation(doc, ctx)
    section_costs(doc, ctx)
    section_table1(doc, ctx)
    section_vs_full(doc, ctx)
    model_comparison.section(doc, ctx)
    section_per_language(doc, ctx)
    guards.section(doc, ctx)
    section_fig1(doc, ctx)
    dynamics.section(doc, ctx)
    section_decisions(doc, ctx)
    section_failed(doc, ctx)
    section_notes(doc, ctx)
    return doc


# ---- HTML -----------------------------------------------------------------------------------------------------------

CSS = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #bbb;padding:3px 8px;font-size:0.9em}"
       "th{background:#eee}td{text-align:right}td:first-child{text-align:left}img{max-width:100%}li{margin:0.2em 0}")


def to_html(markdown_text: str, out: Path, title: str) -> str:
    """The Markdown report as one self-contained page: the figures it links are inlined as data URIs, so the page
    can be mailed or attached as one file."""
    import markdown

    def inline(m: re.Match) -> str:
        data = base64.b64encode((out / m.group(2)).read_bytes()).decode("ascii")
        return f"![{m.group(1)}](data:image/png;base64,{data})"

    body = markdown.markdown(re.sub(r"!\[([^\]]*)\]\(([^)/]+\.png)\)", inline, markdown_text), extensions=["tables"])
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")
