"""The report's figures: Figure 1 (task metric, language-correct rate and output length against the learning rate, one
line per language; also the demo's figure) and Figure 2 (methods at their chosen settings). Drawn on pyplot-free Agg
figures and written atomically."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from xlgen.metrics import all_measures
from xlgen.study.tables import lr_text as _lr


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
    """The axis label a measure declares in the registry."""
    return all_measures()[metric].label if metric in all_measures() else metric


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
            ref = b["kind"] in ("reference", "translation")  # baselines: reference runs, translate-test
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



def plot_lr_curves(points: list[tuple[float, dict[str, dict]]], metric: str, sources, path: Path, *, title: str = "",
                   failed_lrs: list[float] = (), plr: float | None = None) -> None:
    """Figure 1: `points` are (learning rate, per-language test metrics) of runs that differ only in the LR. The task
    metric, the language-correct rate and the output length, one line per language (the source language in bold
    black), the PLR dashed, failed runs dotted red: where the language-correct rate collapses is the story."""
    points = sorted(points, key=lambda p: p[0])
    langs: list[str] = []
    for _, per_lang in points:
        langs += [lang for lang in per_lang if lang not in langs]
    panels = (metric, "lang_correct", "avg_length")
    fig = _new_figure(5 * len(panels), 4)
    axes = fig.subplots(1, len(panels))
    for ax, key in zip(axes, panels):
        for lang in langs:
            pts = [(lr, per_lang[lang].get(key)) for lr, per_lang in points if lang in per_lang]
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
        ax.set_ylabel(_label(key))
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=3, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)
