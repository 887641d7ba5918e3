"""The paper's Figure 1 from run directories: task metric, language-correct rate and output length against the
learning rate, one line per language, plus the tables behind it. Everything is read from the runs' `results.json`."""

from __future__ import annotations

import math
from pathlib import Path

from xlgen.io import atomic_write_text, read_json
from xlgen.study.protocol import fmt_lr

PANELS = (("primary", "{metric}"), ("lang_correct", "language-correct rate (%)"), ("avg_length", "average output length (chars)"))


def load_runs(run_dirs: list[Path]) -> list[dict]:
    runs = [read_json(Path(d) / "results.json") for d in run_dirs]
    return sorted(runs, key=lambda r: r["lr"])


def plot_lr_curves(runs: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = runs[0]["primary_metric"]
    langs = list(runs[0]["test"])
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    lrs = [r["lr"] for r in runs]
    for ax, (key, label) in zip(axes, PANELS):
        for lang in langs:
            ys = [r["test"][lang][metric if key == "primary" else key] for r in runs]
            style = dict(linewidth=2.5, color="black") if lang == "en" else dict(linewidth=1.2)
            ax.plot(lrs, ys, marker="o", label=lang, **style)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(label.format(metric=metric.upper() if len(metric) <= 3 else metric))
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=3, fontsize=8)
    fig.tight_layout()
    tmp = png.with_name("." + png.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(png)


def _fmt(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def lr_tables(runs: list[dict]) -> str:
    metric = runs[0]["primary_metric"]
    langs = list(runs[0]["test"])
    lines = []
    for key, title in ((metric, f"{metric.upper()}"), ("lang_correct", "language-correct rate (%)"), ("avg_length", "average output length (characters)")):
        lines.append(f"\n### {title}\n")
        lines.append("| lr | " + " | ".join(langs) + " | avg (non-en) |")
        lines.append("|---" * (len(langs) + 2) + "|")
        for r in runs:
            vals = [r["test"][lang][key] for lang in langs]
            tgt = [r["test"][lang][key] for lang in langs if not lang.startswith("en")]
            avg = sum(tgt) / len(tgt) if tgt else float("nan")
            lines.append(f"| {fmt_lr(r['lr'])} | " + " | ".join(_fmt(v) for v in vals) + f" | **{_fmt(avg)}** |")
    return "\n".join(lines)


def write_lr_report(run_dirs: list[Path], out: Path, *, title: str, wall_time_s: float | None = None, config_path=None, overrides=()) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(run_dirs)
    png = out / "figure1.png"
    plot_lr_curves(runs, png)
    first = runs[0]
    n_eval = {lang: m["n"] for lang, m in first["test"].items()}
    from xlgen.config import load_config

    cfg = load_config(Path(first["run_dir"]) / "config.yaml")
    sizes = [
        f"- model: `{cfg.model.name}`, task: `{cfg.task.name}`, full finetuning, {cfg.train.steps} steps of at most "
        f"{cfg.train.max_tokens} tokens ({first['train_examples']} training examples available; warmup {cfg.train.warmup_steps} steps, "
        f"inverse-square-root schedule, Adam), precision {first['precision']} on {first['device']}",
        f"- evaluation examples per language (after the XQuAD filter={cfg.task.xquad_filter}): "
        + ", ".join(f"{k} {v}" for k, v in n_eval.items()),
        f"- greedy decoding, at most {cfg.generate.max_new_tokens} new tokens",
        "- training time per learning rate: " + ", ".join(f"{fmt_lr(r['lr'])}: {r['train_time_s']:.0f}s" for r in runs),
    ]
    if wall_time_s is not None:
        sizes.append(f"- whole job wall time: {wall_time_s / 60:.1f} min (this run; model preparation excluded if it was cached)")
    command = "xlgen demo" + (f" --config {config_path}" if config_path else "") + "".join(f" {o}" for o in overrides)
    text = "\n".join(
        [
            f"# {title}",
            "",
            "Numbers are as measured by this run; nothing is tuned or edited by hand. The sizes are miniature, so read",
            "the trends, not the absolute values. Produced by:",
            "",
            f"    {command}",
            "",
            "## Sizes",
            "",
            *sizes,
            "",
            "## Figure",
            "",
            f"![task metric, language-correct rate and output length against learning rate]({png.name})",
            "",
            "## Tables (test sets; avg over non-English languages)",
            lr_tables(runs),
            "",
            "Run directories: " + ", ".join(f"`{r['run_dir']}`" for r in runs),
            "",
        ]
    )
    report = out / "report.md"
    atomic_write_text(report, text)
    return report
