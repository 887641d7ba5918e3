"""Several source languages, mixing-in target languages, self-supervised objectives and intermediate tuning."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from xlgen.backbones import Encoded
from xlgen.config import DataConfig, DatasetSpec, GenerateConfig, MixConfig, ModelConfig, ObjectiveConfig, RawTextSpec, RunConfig, TaskConfig, TrainConfig
from xlgen.errors import XlgenError
from xlgen.objectives import get_objective, segments, split_sentences
from xlgen.sampling import TrainingStream
from xlgen.testing import tiny_model
from xlgen.train import train


def _group(n, lang, seed):
    rng = random.Random(seed)
    return [Encoded([1] * rng.randint(5, 60), [2] * rng.randint(1, 10)) for _ in range(n)]


def test_source_languages_sampled_uniformly():
    # Unequal sizes: uniform sampling over languages, not over examples.
    groups = {"en": _group(2000, "en", 0), "ja": _group(300, "ja", 1), "ar": _group(100, "ar", 2)}
    stream = TrainingStream(groups, max_tokens=400, seed=0)
    counts = Counter()
    for _ in range(3000):
        next(stream)
        counts[stream.last_sources[0]] += 1
    for lang in groups:
        assert abs(counts[lang] / 3000 - 1 / 3) < 0.03, counts


def test_proportional_sampling_pools_examples():
    groups = {"en": _group(900, "en", 0), "ja": _group(100, "ja", 1)}
    stream = TrainingStream(groups, max_tokens=400, seed=0, sampling="proportional")
    ids = {id(e): lang for lang, g in groups.items() for e in g}
    counts = Counter(ids[id(e)] for _ in range(2000) for e in next(stream))
    assert abs(counts["ja"] / sum(counts.values()) - 0.1) < 0.02


@pytest.mark.parametrize("p", [0.01, 0.2])
def test_mixing_hits_its_probability_and_languages_are_uniform(p):
    groups = {"en": _group(1000, "en", 0)}
    mix = {lang: _group(50, lang, i + 10) for i, lang in enumerate(["de", "ru", "zh"])}
    stream = TrainingStream(groups, max_tokens=600, seed=3, mix=mix, mix_probability=p)
    sources = Counter()
    for _ in range(4000):
        next(stream)
        sources.update(stream.last_sources)
    total = sum(sources.values())
    mixed = sum(v for k, v in sources.items() if k.startswith("mix:"))
    assert abs(mixed / total - p) < max(0.25 * p, 0.003), (mixed / total, p)
    per_lang = [sources[f"mix:{lang}"] / mixed for lang in mix]
    assert all(abs(x - 1 / 3) < 0.08 for x in per_lang), per_lang


def test_stream_state_resumes_exactly():
    groups = {"en": _group(300, "en", 0), "ja": _group(200, "ja", 1)}
    mix = {"de": _group(40, "de", 5)}
    a = TrainingStream(groups, max_tokens=300, seed=1, mix=mix, mix_probability=0.3)
    for _ in range(57):
        next(a)
    state = json.loads(json.dumps(a.state_dict()))
    expected = [[id(e) for e in next(a)] for _ in range(40)]
    b = TrainingStream(groups, max_tokens=300, seed=1, mix=mix, mix_probability=0.3)
    b.load_state_dict(state)
    assert [[id(e) for e in next(b)] for _ in range(40)] == expected


def test_objectives_make_sensible_examples():
    text = "Der Hund läuft schnell nach Hause. Die Katze schläft auf dem Sofa. Es regnet seit Stunden. Morgen wird es sonnig."
    rng = random.Random(0)
    ex = get_objective(ObjectiveConfig(name="prefix_lm"), "t5").make(text, "de", rng, "x")
    assert (ex.input + " " + ex.target) == text and ex.input and ex.target
    zh = "今天天气很好。我们去公园散步吧。公园里有很多人。"
    ex = get_objective(ObjectiveConfig(name="prefix_lm"), "t5").make(zh, "zh", rng, "x")
    assert ex.input + ex.target == zh.replace(" ", "")
    ex = get_objective(ObjectiveConfig(name="zmbart"), "mbart").make(text, "de", rng, "x")
    assert ex.input == text and all(s in split_sentences(text) for s in split_sentences(ex.target))
    ex = get_objective(ObjectiveConfig(name="pretraining"), "t5").make(text, "de", rng, "x")
    assert "<extra_id_0>" in ex.input and ex.target.startswith("<extra_id_0>")
    restored = ex.input
    for i, span in enumerate(ex.target.split("<extra_id_")[1:-1]):
        sid, words = span.split(">", 1)
        restored = restored.replace(f"<extra_id_{sid}>", words.strip(), 1)
    assert restored.split() == text.split()
    ex = get_objective(ObjectiveConfig(name="pretraining"), "mbart").make(text, "de", rng, "x")
    assert "<mask>" in ex.input and ex.target == text
    with pytest.raises(XlgenError, match="unknown objective"):
        get_objective(ObjectiveConfig(name="bogus"), "t5")


def test_segments():
    lines = ["a" * 100] * 10 + ["b " * 2000]
    segs = segments(lines, 250, 100)
    assert all(len(s) <= 1000 for s in segs) and sum(len(s.replace(" ", "")) for s in segs) == 1000 + 2000


def _base(tmp_path, data_dir, family="mt5"):
    xquad = str(data_dir / "xquad" / "xquad.{lang}.json")
    return RunConfig(
        model=ModelConfig(name=str(tiny_model(family)), max_input_length=64, max_target_length=32),
        task=TaskConfig(name="qa"),
        data=DataConfig(train=[DatasetSpec(path=xquad, lang="en", max_examples=16)], test=DatasetSpec(path=xquad, languages=["de"], max_examples=2)),
        train=TrainConfig(lr=1e-3, steps=3, warmup_steps=1, max_tokens=500, save_every=3, eval_every=100, log_every=1),
        generate=GenerateConfig(max_new_tokens=4),
        output_dir=str(tmp_path / "run"),
    )


def test_intermediate_tuning_then_task_run(tmp_path, data_dir):
    raw = RawTextSpec(path=str(data_dir / "ud_monolingual_text" / "ud_text.{lang}.txt"), languages=["de", "ru", "zh"], max_lines=200)
    cfg = _base(tmp_path, data_dir)
    cfg.stage = "intermediate"
    cfg.data = DataConfig(raw=raw, objective=ObjectiveConfig(name="prefix_lm", segment_chars=200))
    cfg.output_dir = str(tmp_path / "it")
    res = train(cfg, progress=False)
    assert res["stage"] == "intermediate" and res["train_examples"] > 100
    # The intermediate checkpoint is the backbone of a task run.
    task_cfg = _base(tmp_path, data_dir)
    task_cfg.model.name = str(tmp_path / "it")
    res = train(task_cfg, progress=False)
    assert set(res["test"]) == {"de"}
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"]["name"] == str(tmp_path / "it")


def test_intermediate_needs_raw_text(tmp_path, data_dir):
    cfg = _base(tmp_path, data_dir)
    cfg.stage = "intermediate"
    cfg.data = DataConfig()
    with pytest.raises(XlgenError, match="data.raw"):
        train(cfg, progress=False)


@pytest.mark.parametrize("objective", ["prefix_lm", "pretraining"])
def test_mixing_in_and_multi_source_end_to_end(tmp_path, data_dir, objective):
    cfg = _base(tmp_path, data_dir, family="mbart50")
    xquad = str(data_dir / "xquad" / "xquad.{lang}.json")
    cfg.data.train = [DatasetSpec(path=xquad, languages=["en", "es"], max_examples=8)]
    cfg.data.mix = MixConfig(raw=RawTextSpec(path=str(data_dir / "ud_monolingual_text" / "ud_text.{lang}.txt"), languages=["de", "zh"], max_lines=100), probability=0.5, objective=ObjectiveConfig(name=objective, segment_chars=150))
    res = train(cfg, progress=False)
    assert res["train_examples"] == 16


def test_mix_language_without_model_code_fails_early(tmp_path, data_dir):
    cfg = _base(tmp_path, data_dir, family="mbart50")
    cfg.data.mix = MixConfig(raw=RawTextSpec(path=str(tmp_path / "{lang}.txt"), languages=["yo"]))
    (tmp_path / "yo.txt").write_text("Ẹ kú àárọ̀. " * 50)
    with pytest.raises(XlgenError, match="no language code"):
        train(cfg, progress=False)
    assert not (Path(cfg.output_dir) / "checkpoints").exists()
