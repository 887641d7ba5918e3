"""`xlgen report STUDY_DIR`: the paper's figures and tables (Fig. 1, Fig. 2, Table 1, Table 4) rebuilt from a study.

Four steps, one module each: collect the study from its run directories and replay the protocol (`collect.py`),
compute the numbers and table rows (`tables.py`), draw the figures (`figures.py`), and write the document once as
Markdown, which a library renders to HTML (`render.py`). results.csv, report.md and report.html come from the same
numbers, so the tables and the CSV cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from xlgen.io import atomic_write_text
from xlgen.study.collect import build_context, consistency_notes, index_runs, load_study_json, outcomes_from_runs, replay, replay_all_at_once, scan_runs
from xlgen.study.outcomes import new_protocol, outcome_for, protocol_config_for
from xlgen.study.render import report_title, study_document, to_html
from xlgen.study.tables import csv_rows, csv_text, metric_columns


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

    doc = study_document(ctx, unknown)
    text = doc.markdown()
    paths["report_md"] = out / "report.md"
    atomic_write_text(paths["report_md"], text)
    paths["report_html"] = out / "report.html"
    atomic_write_text(paths["report_html"], to_html(text, out, report_title(ctx)))
    paths.update(sorted(doc.figures.items()))
    return paths


def selection_summary(study_dir: str | Path) -> dict:
    """The recomputed selection as JSON-ready data (what selection.json would say), for callers and tests."""
    ctx, _, _ = build_context(Path(study_dir), Path(study_dir) / "report")
    return {"selected": [{"model": m, "task": t, "method": me, **v} for (m, t, me), v in ctx.protocol.selected().items()],
            "decisions": ctx.protocol.decisions(), "waiting": [k.name for k in ctx.waiting], "complete": ctx.protocol.done()}


__all__ = [
    "write_report", "selection_summary", "outcome_for", "protocol_config_for", "new_protocol", "replay", "replay_all_at_once",
    "scan_runs", "index_runs", "load_study_json", "outcomes_from_runs",
]  # fmt: skip
