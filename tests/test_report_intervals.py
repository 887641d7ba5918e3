"""The study report's intervals, paired comparisons, profiles, dynamics and Figure 3, on a synthetic two-backbone
study whose runs are scored by xlgen's real scoring path (score_outputs) from synthetic answers of known quality."""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from test_study_report import md_table
from xlgen.config import TaskConfig
from xlgen.metrics.rows import average_row, score_outputs
from xlgen.study.outcomes import new_protocol, outcome_for, protocol_config_for
from xlgen.study.report import write_report
from xlgen.tasks import get_task

WORDS = {"en": "the house", "de": "das Haus", "es": "la casa"}
WRONG = {"en": "a tree", "de": "ein Baum", "es": "un árbol"}
# Share of correct answers per (model, method, lr): "big" is better than "small"; full at 1e-4 is best.
QUALITY = {("small", "full"): {1e-3: 0.3, 1e-4: 0.6, 1e-5: 0.4, 3e-4: 0.5}, ("small", "adapters"): {1e-3: 0.5, 1e-4: 0.58, 1e-5: 0.2},
           ("big", "full"): {1e-3: 0.5, 1e-4: 0.8, 1e-5: 0.55, 3e-4: 0.7}, ("big", "adapters"): {1e-3: 0.7, 1e-4: 0.75, 1e-5: 0.3}}
N = 40


def answers(quality: float, lang: str, seed: int, salt: int) -> tuple[list[str], list[list[str]], list[str]]:
    rng = np.random.default_rng(seed * 1000 + salt)
    ok = rng.random(N) < quality
    preds = [WORDS[lang] if good else WRONG[lang] for good in ok]
    return preds, [[WORDS[lang]]] * N, [f"{lang}-q{i}" for i in range(N)]


def write_run(root: Path, key, task, profile_seed: int) -> None:
    q = QUALITY[(key.model, key.method)].get(key.lr, 0.1) + 0.02 * key.seed
    d = root / "runs" / key.name.replace("/", "_")
    (d / "predictions").mkdir(parents=True)
    (d / "study_key.json").write_text(json.dumps({**key.to_dict(), "kind": "protocol"}))
    salt = zlib.crc32(f"{key.model}/{key.method}/{key.lr}".encode()) % 997
    test, scores = {}, {}
    for lang in ("en", "de", "es"):
        preds, refs, ids = answers(q, lang, key.seed, salt)
        test[lang], scores[lang] = score_outputs(task, preds, refs, lang)
        rows = [{"id": i, "prediction": p, "references": r, "scores": s} for i, p, r, s in zip(ids, preds, refs, scores[lang])]
        (d / "predictions" / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dev = {}
    with open(d / "metrics.jsonl", "w") as fh:
        for step in (50, 100):
            (d / "predictions" / f"dev-step{step}").mkdir()
            for lang in ("de", "es"):
                preds, refs, ids = answers(q * step / 100, lang, key.seed, salt + 1)
                row, ex = score_outputs(task, preds, refs, lang)
                rows = [{"id": i, "prediction": p, "references": r, "scores": s} for i, p, r, s in zip(ids, preds, refs, ex)]
                (d / "predictions" / f"dev-step{step}" / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
                fh.write(json.dumps({"step": step, "split": "dev", "lang": lang, **row}) + "\n")
                dev[lang] = {**row, "step": step}
    results = {"primary_metric": "f1", "metric_profile": task.cfg.metric_profile, "lr": key.lr, "steps": 100, "test": test,
               "test_summary": average_row(test, scores), "dev_last": dev}
    (d / "results.json").write_text(json.dumps(results))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("intervals")
    study = {"name": "two-backbones", "base": "/nowhere.yaml", "models": {"small": {}, "big": {}}, "tasks": {"qa": {}},
             "methods": {"full": {"adaptation.method": "full"}, "adapters": {"adaptation.method": "adapters"}}, "intermediate": {}, "seeds": [0, 1], "source_languages": ["en"],
             "validation_languages": ["de", "es"], "test_languages": ["en", "de", "es"], "protocol": {}, "references": {}}
    (root / "study.json").write_text(json.dumps(study))
    cfg = protocol_config_for(study)
    task = get_task(TaskConfig(name="qa"))
    proto = new_protocol(study, cfg)  # as the runner builds it
    while not proto.done():
        outs = []
        for k in proto.ask():
            write_run(root, k, task, 0)
            outs.append(outcome_for(k, json.loads((root / "runs" / k.name.replace("/", "_") / "results.json").read_text()), cfg, ["en"]))
        proto.tell(outs)
    paths = write_report(root)
    return root, proto, paths, Path(paths["report_md"]).read_text(encoding="utf-8")


def test_per_language_cells_carry_intervals(study):
    _, _, _, md = study
    rows = {r["method"]: r for r in md_table(md, "### small / qa: f1")}
    cell = rows["full"]["de"]
    value, lo, hi = (float(x) for x in cell.replace("[", " ").replace(",", " ").replace("]", " ").split()[:3])
    assert lo <= value <= hi and hi - lo > 5  # 40 questions: a wide interval
    assert "'paper' metric profile" in md


def test_csv_names_profiles_and_interval_bounds(study):
    root, _, paths, _ = study
    with open(paths["results_csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = set(rows[0])
    assert {"paper.f1", "paper.f1_lo", "paper.f1_hi", "multilingual.f1", "lang_correct_lo", "headline_profile", "langid_model"} <= cols
    assert "f1" not in cols  # every task-metric column names its profile
    r = next(r for r in rows if r["split"] == "test" and r["lang"] == "de")
    assert float(r["paper.f1_lo"]) <= float(r["paper.f1"]) <= float(r["paper.f1_hi"]) and r["headline_profile"] == "paper"


def test_paired_comparisons_are_marked(study):
    _, _, _, md = study
    vs = md_table(md, "## Methods vs full finetuning (paired)")
    assert {r["model"] for r in vs} == {"small", "big"} and all(r["method"] == "adapters" for r in vs)
    for r in vs:
        est = float(r["paired 95% CI"].split()[0])
        assert est == pytest.approx(float(r["difference"]), abs=1e-6)
    assert "paired bootstrap over the same validation examples" in md
    assert "(within noise)" in md  # 40 examples cannot separate LRs a few points apart


def test_dynamics_and_figure3(study):
    root, _, paths, md = study
    assert "## Training dynamics" in md and any(k.startswith("dyn_") for k in paths)
    fig3 = md_table(md, "### qa")
    assert [r["model"] for r in fig3] == ["small", "big"]
    assert float(fig3[1]["avg"]) > float(fig3[0]["avg"]) and fig3[0]["seeds"] in ("1", "2")
    assert Path(paths["fig3_qa"]).stat().st_size > 1000


def test_selected_on_test_data_is_in_the_title(study, tmp_path):
    root, _, _, _ = study
    data = json.loads((root / "study.json").read_text())
    data["protocol"] = {"select_on": "test"}
    (root / "study.json").write_text(json.dumps(data))
    try:
        md = Path(write_report(root, tmp_path / "r")["report_md"]).read_text()
        assert md.splitlines()[0] == "# Study report: two-backbones (selected on test data)"
    finally:
        data["protocol"] = {}
        (root / "study.json").write_text(json.dumps(data))
