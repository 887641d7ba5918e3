"""Figure 3 of the paper: backbones compared under full finetuning without intermediate tuning, per target language,
mean and spread over seeds. Shown when a study has several models and a `full` method.

Each model's learning rate is the protocol's best no-IT candidate of full finetuning's final grid ({PLR, 10 PLR}),
picked on the validation metric with the protocol's own rule, never on test. Its seeds exist when that candidate is
also the chosen setting (or the study has no IT); otherwise only the first seed is shown, and the table says so.
"""

from __future__ import annotations

from xlgen.study import uncertainty
from xlgen.study.protocol import RunKey, canon_lr

METHOD = "full"


def rows(ctx) -> list[dict]:
    from xlgen.study.collect import done_run as _done
    from xlgen.study.tables import mean_std, target_avg

    out = []
    for task in ctx.study["tasks"]:
        metric = ctx.metrics.get(task)
        for model in ctx.study["models"]:
            sel = next((r["selected"] for r in ctx.selection if (r["model"], r["task"], r["method"]) == (model, task, METHOD)), None)
            plr = sel["plr"] if sel else None
            best = None
            if plr is not None:
                lrs = [canon_lr(plr * m) for m in ctx.cfg.multipliers if ctx.cfg._within(canon_lr(plr * m))]
                best = ctx.protocol._best([RunKey(model, task, METHOD, lr, False, ctx.study["seeds"][0]) for lr in dict.fromkeys(lrs)])
            runs = []
            if best is not None:
                runs = [r for seed in ctx.study["seeds"] if (r := _done(ctx.index, "protocol", RunKey(model, task, METHOD, best.lr, False, seed)))]
            tests = [r.results.get("test") or {} for r in runs]
            targets = [lang for lang in ctx.langs if lang not in ctx.sources and tests and all(lang in t for t in tests)]
            per_lang = {lang: mean_std([t[lang].get(metric) for t in tests]) for lang in targets} if metric else {}
            avg = mean_std([target_avg(t, metric, ctx.sources) for t in tests]) if metric and tests else (None, None)
            out.append({"task": task, "model": model, "metric": metric, "lr": best.lr if best else None, "runs": runs,
                        "per_lang": per_lang, "avg": avg, "avg_ci": uncertainty.average(runs, targets, metric, ctx.profile) if metric else None})
    return out


def plot(rows_: list[dict], langs: list[str], metric: str, title: str, path) -> None:
    from xlgen.study.figures import _label, _new_figure, save_png

    models = [r for r in rows_ if r["runs"]]
    fig = _new_figure(max(8, 1.2 * len(langs) * len(models) / 2 + 3), 4)
    ax = fig.subplots(1, 1)
    width = 0.8 / max(len(models), 1)
    for i, r in enumerate(models):
        xs = [j + i * width for j in range(len(langs))]
        means = [r["per_lang"].get(lang, (None, None))[0] for lang in langs]
        stds = [r["per_lang"].get(lang, (None, None))[1] or 0.0 for lang in langs]
        ax.bar(xs, [m if m is not None else 0.0 for m in means], width, yerr=stds, capsize=3,
               label=f"{r['model']} (lr {r['lr']:g}, {len(r['runs'])} seed{'s' if len(r['runs']) != 1 else ''})")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(langs))])
    ax.set_xticklabels(langs)
    ax.set_ylabel(_label(metric))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def section(doc, ctx) -> None:
    from xlgen.study.figures import safe_name
    from xlgen.study.tables import lr_text, num

    if len(ctx.study["models"]) < 2 or METHOD not in ctx.study["methods"]:
        return
    doc.heading(2, "Figure 3 analogue: backbones under full finetuning without IT")
    doc.para("Per target language, mean over seeds (error bars and ±: sample standard deviation over seeds); each model at "
             "its best no-IT LR of full finetuning's final grid, picked on validation data as the protocol picks. "
             "95% CI of the average: bootstrap over test examples (seed means per example).")
    all_rows = rows(ctx)
    for task in ctx.study["tasks"]:
        rs = [r for r in all_rows if r["task"] == task]
        metric = rs[0]["metric"] if rs else None
        if not metric or not any(r["runs"] for r in rs):
            doc.para(f"{task}: no finished no-IT full-finetuning runs yet.")
            continue
        langs = [lang for lang in ctx.langs if lang not in ctx.sources and any(lang in r["per_lang"] for r in rs)]
        png = ctx.out / f"fig3_{safe_name(task)}.png"
        plot(rs, langs, metric, f"{task}: full finetuning without IT, by backbone", png)
        table = []
        for r in rs:
            cells = []
            for lang in langs:
                m, s = r["per_lang"].get(lang, (None, None))
                cells.append("n/a" if m is None else num(m) + (f" ± {s:.2f}" if s is not None else ""))
            table.append([r["model"], lr_text(r["lr"]), str(len(r["runs"])), *cells, num(r["avg"][0]), uncertainty.fmt(r["avg_ci"])])
        doc.heading(3, task)
        doc.figure(png, f"Figure 3 analogue for {task}")
        doc.table(["model", "LR", "seeds", *langs, "avg", "avg 95% CI"], table)
