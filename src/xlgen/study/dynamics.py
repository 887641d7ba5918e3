"""Training dynamics: the validation metric and the language-correct rate against the training step, per language,
for each run, read from its `metrics.jsonl` (the paper reports "how task-specific metrics evolve during adaptation":
the drift to the source language often shows up as LCR falling while English-like answers keep the metric up)."""

from __future__ import annotations

from pathlib import Path

from xlgen.io import read_jsonl_lenient


def dev_curves(run_dir: Path, metric: str) -> dict[str, list[tuple[int, float | None, float | None]]]:
    """{lang: [(step, metric, lang_correct), ...]} from the run's validation evaluations, in step order."""
    curves: dict[str, dict[int, tuple]] = {}
    for row in read_jsonl_lenient(Path(run_dir) / "metrics.jsonl"):
        if row.get("split") != "dev" or "step" not in row or "lang" not in row:
            continue
        curves.setdefault(row["lang"], {})[int(row["step"])] = (int(row["step"]), row.get(metric), row.get("lang_correct"))
    return {lang: [pts[s] for s in sorted(pts)] for lang, pts in curves.items()}


def plot_dynamics(curves: dict, metric: str, sources, title: str, path: Path) -> None:
    from xlgen.study.figures import _label, _new_figure, save_png

    fig = _new_figure(10, 3.6)
    axes = fig.subplots(1, 2)
    for ax, (i, ylabel) in zip(axes, ((1, _label(metric) + " (validation)"), (2, "language-correct rate (%)"))):
        for lang, pts in curves.items():
            xy = [(p[0], p[i]) for p in pts if p[i] is not None]
            if not xy:
                continue
            style = dict(linewidth=2.5, color="black") if lang in sources else dict(linewidth=1.2)
            ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", markersize=3, label=lang, **style)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=3, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def section(doc, ctx) -> None:
    """One figure per finished run with at least two validation evaluations."""
    from xlgen.study.collect import run_order
    from xlgen.study.figures import safe_name

    doc.heading(2, "Training dynamics")
    doc.para("Validation metric and language-correct rate against the training step, one line per validation language "
             "(source languages in bold black), for every run with at least two validation evaluations (metrics.jsonl).")
    shown = 0
    for r in sorted((r for r in ctx.runs if r.kind == "protocol" and r.status == "done" and not r.superseded), key=run_order):
        metric = ctx.metrics.get(r.task)
        if not metric:
            continue
        curves = dev_curves(r.dir, metric)
        if not curves or max(len(p) for p in curves.values()) < 2:
            continue
        png = ctx.out / f"dyn_{safe_name(r.key.name)}.png"
        plot_dynamics(curves, metric, ctx.sources, f"{r.key.name}: validation during training", png)
        doc.heading(3, r.key.name)
        doc.figure(png, f"training dynamics of {r.key.name}")
        shown += 1
    if not shown:
        doc.para("No run has two or more validation evaluations (train.eval_every >= train.steps).")
