"""Data-translation baselines inside a study, on a tiny model with XQuAD's own translations as the translator:
translate-train searched by the LR protocol like any method, translate-test on the chosen full-finetuning runs, and
the best-English-LR run with its outputs translated (Table 3)."""

import json
from pathlib import Path

import pytest
import yaml

from xlgen.errors import XlgenError
from xlgen.study.runner import run_study
from xlgen.testing import tiny_qa_config


def write_study(tmp_path: Path, data_dir: Path, translation: dict) -> Path:
    base = tiny_qa_config(data_dir, train_examples=8, target_length=16, steps=2)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    study = {
        "name": "tr", "base": "base.yaml", "models": {"tiny": {}}, "tasks": {"xquad": {}},
        "methods": {"full": {"adaptation.method": "full"}}, "seeds": [0],
        "validation_languages": ["vi"], "test_languages": ["en", "de"],
        "protocol": {"min_lr": 1e-5, "max_lr": 1e-3, "refine": False},
        "translation": translation, "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("study-translation")
    path = write_study(tmp, data_dir, {"translator": "parallel:xquad", "cache": str(tmp / "cache.sqlite")})
    return tmp / "out", run_study(path, progress=False)


def test_translate_train_is_searched_like_a_method(study):
    out, summary = study
    methods = {s["method"]: s for s in summary["selected"]}
    assert set(methods) == {"full", "translate_train"} and methods["translate_train"]["lr"] is not None
    searched = {d["method"] for d in summary["decisions"] if d["phase"] == "plr"}
    assert "translate_train" in searched  # its own LR search, not full finetuning's PLR
    # its runs train on English plus the translations into the validation and test languages
    keys = [(json.loads((r / "study_key.json").read_text()), r) for r in (out / "runs").iterdir()]
    tt = [r for k, r in keys if k.get("method") == "translate_train"]
    assert tt
    cfg = yaml.safe_load((tt[0] / "config.yaml").read_text())
    train = cfg["data"]["train"]
    assert train[0]["lang"] == "en" and train[1]["languages"] == ["vi", "de"] and "{lang}" in train[1]["path"]
    translated = json.loads(Path(train[1]["path"].replace("{lang}", "de")).read_text())
    assert sum(len(p["qas"]) for a in translated["data"] for p in a["paragraphs"]) >= 7  # of 8, XQuAD's German


def test_translation_evaluations_are_written_to_the_runs(study):
    out, summary = study
    full = next(s for s in summary["selected"] if s["method"] == "full")
    found = {p: json.loads(p.read_text()) for p in out.glob("runs/*/translation/*.json")}
    modes = {v["mode"] for v in found.values()}
    assert modes == {"translate-test", "translated-outputs"}
    for v in found.values():
        assert set(v["test"]) == {"en", "de"} and v["translator"] == "parallel|xquad" and "f1" in v["test"]["de"]
    tt = next(v for v in found.values() if v["mode"] == "translate-test")
    assert tt["test"]["en"]["translation_failures"] == 0  # the source language is not translated
    assert full["lr"] is not None


def test_rerun_redoes_nothing(study, tmp_path):
    out, _ = study
    files = sorted(out.glob("runs/*/translation/*.json"))
    stamps = [p.stat().st_mtime_ns for p in files]
    path = out.parent / "study.yaml"
    run_study(path, progress=False)
    assert [p.stat().st_mtime_ns for p in files] == stamps


def test_bad_translation_settings_are_config_errors(tmp_path, data_dir):
    path = write_study(tmp_path, data_dir, {"translator": "parallel:xquad", "base_method": "lora"})
    with pytest.raises(XlgenError, match="translation.base_method"):
        run_study(path, progress=False)
    path = write_study(tmp_path, data_dir, {"translator": "parallel:xquad", "method_name": "full"})
    with pytest.raises(XlgenError, match="already a method"):
        run_study(path, progress=False)


def test_report_has_tables_2_and_3_and_the_translate_test_bar(study):
    from xlgen.study.report import write_report

    out, _ = study
    paths = write_report(out)
    md = paths["report_md"].read_text()
    assert "Table 2 analogue" in md and "Table 3 analogue" in md
    t2 = md[md.index("Table 2 analogue") : md.index("Table 3 analogue")]
    for label in ("zero-shot: full", "data translation: translate-train", "data translation: translate-test"):
        assert label in t2
    t3 = md[md.index("Table 3 analogue") :].split("\n## ")[0]
    row = next(line for line in t3.splitlines() if line.startswith("| tiny"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] != "n/a" and cells[4] != "n/a" and cells[6] != "n/a"  # best-En LR, its translated score, the PLR
    fig2 = md[md.index("Figure 2 analogue") : md.index("Table 2 analogue")]
    assert "translate-test (full)" in fig2 and "translate_train" in fig2

