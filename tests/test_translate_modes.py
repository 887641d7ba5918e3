"""Evaluation modes through translation: translate-test and translated outputs (Table 3), on a tiny real model with
XQuAD's own human translations as the translator, so what reaches the model is checkable text."""

import json

import pytest

from xlgen.backbones import load_backbone
from xlgen.config import DatasetSpec, GenerateConfig, ModelConfig, TaskConfig
from xlgen.errors import XlgenError
from xlgen.tasks import get_task
from xlgen.testing import tiny_model
from xlgen.translate import make_translator
from xlgen.translate.cache import TranslationCache
from xlgen.translate.modes import _translate_all, evaluate_with_translation
from xlgen.translate.parallel import lookup_key


@pytest.fixture(scope="module")
def setup(data_dir):
    task = get_task(TaskConfig(name="qa"))
    spec = DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=6)
    de, en = task.load(spec, "de"), task.load(spec, "en")
    backbone = load_backbone(ModelConfig(name=str(tiny_model("mbart50"))), "cpu")
    return task, de, en, backbone, make_translator("parallel:xquad")


def test_translate_test_feeds_the_model_source_language_input(setup):
    task, de, en, bb, tr = setup
    metrics, rows = evaluate_with_translation("translate-test", bb, bb.model, de, task, "de", GenerateConfig(max_new_tokens=4), translator=tr, source_lang="en", progress=False)
    for row, ex in zip(rows, en):
        assert lookup_key(row["model_input"]) == lookup_key(ex.input + ex.suffix)  # XQuAD's English paragraph and question
    assert metrics["n"] == 6 and {"f1", "lang_correct", "avg_length", "translation_failures"} <= set(metrics)
    # a random model's outputs are in no corpus: each non-empty one is passed on untranslated and counted
    assert metrics["translation_failures"] == sum(bool(r["model_output"].strip()) for r in rows)
    assert all(r["prediction"] == r["model_output"] for r in rows)


def test_translated_outputs_keeps_target_language_input(setup):
    task, de, en, bb, tr = setup
    metrics, rows = evaluate_with_translation("translated-outputs", bb, bb.model, de, task, "de", GenerateConfig(max_new_tokens=4), translator=tr, source_lang="en", progress=False)
    assert "model_input" not in rows[0] and metrics["n"] == 6
    same, _ = evaluate_with_translation("translated-outputs", bb, bb.model, en, task, "en", GenerateConfig(max_new_tokens=4), translator=tr, source_lang="en", progress=False)
    assert same["translation_failures"] == 0  # the source language itself is not translated


def test_outputs_are_translated_back_with_the_translator(setup):
    task, de, en, bb, tr = setup
    gold_en = [ex.references[0] for ex in en]
    back, failures = _translate_all(tr, TranslationCache(None), gold_en, "en", "de", False)
    assert failures == 0 and back == [ex.references[0] for ex in de]


def test_unknown_mode_is_an_error(setup):
    task, de, en, bb, tr = setup
    with pytest.raises(XlgenError, match="unknown evaluation mode"):
        evaluate_with_translation("back", bb, bb.model, de, task, "de", GenerateConfig(), translator=tr, source_lang="en", progress=False)


def test_cli_evaluate_translate_test(tmp_path, data_dir, capsys):
    from xlgen.cli import main

    args = ["evaluate", str(tiny_model("mbart50")), "--data", str(data_dir / "xquad" / "xquad.{lang}.json"), "--langs", "de,zh", "--max-examples", "3",
            "--max-new-tokens", "4", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "o")]
    assert main(args + ["--mode", "translate-test"]) == 2
    assert "give --translator" in capsys.readouterr().err
    assert main(args + ["--mode", "translate-test", "--translator", "parallel:xquad", "--translation-cache", "none"]) == 0
    report = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert report["mode"] == "translate-test" and report["source_lang"] == "en" and set(report["results"]) == {"de", "zh"}
    rows = [json.loads(line) for line in (tmp_path / "o" / "predictions" / "zh.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all("model_input" in r and "model_output" in r for r in rows)
