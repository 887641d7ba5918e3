import pytest

from xlgen.config import RunConfig, apply_overrides, expand_path, from_dict, load_config, save_config, to_dict
from xlgen.errors import XlgenError


def test_defaults_are_the_papers_settings():
    cfg = RunConfig()
    assert cfg.train.steps == 20_000 and cfg.train.warmup_steps == 4_000
    assert cfg.train.max_tokens == 4_000 and cfg.train.eval_every == 2_000
    assert cfg.train.optimizer == "adam"


def test_yaml_overrides_and_roundtrip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  name: google/mt5-base\ntrain:\n  lr: 1.0e-4\ndata:\n  train:\n    - {path: a.json, lang: en}\n")
    cfg = load_config(p, ["train.lr=1e-5", "train.steps=10", "data.test.languages=[de,zh]", "data.test.path=x/{lang}.json"])
    assert cfg.train.lr == 1e-5 and isinstance(cfg.train.lr, float)
    assert cfg.train.steps == 10
    assert cfg.data.train[0].lang == "en"
    assert cfg.data.test.languages == ["de", "zh"]
    save_config(cfg, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml")
    assert to_dict(again) == to_dict(cfg)


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  lr: fast\n", "train.lr: expected a number"),
        ("trian:\n  lr: 1\n", "trian: unknown config field"),
        ("train:\n  steps: [1]\n", "train.steps: expected an integer"),
        ("train: {lr: 1\n", "malformed YAML"),
        ("data:\n  train:\n    - {path: a, lnag: en}\n", "data.train[0].lnag: unknown config field"),
        # Sizes that sliced ([:-1] kept all but one), meant "no limit" (max_lines: 0) or never ended (segment_chars: 0).
        ("data:\n  test: {path: a, languages: [de], max_examples: -1}\n", "data.test.max_examples: must be at least 1, got -1"),
        ("data:\n  raw: {path: a, lang: de, max_lines: 0}\n", "data.raw.max_lines: must be at least 1, got 0"),
        ("data:\n  objective: {segment_chars: 0}\n", "data.objective.segment_chars: must be at least 1, got 0"),
        ("data:\n  mix: {probability: 2}\n", "data.mix.probability: must be at most 1"),
        ("train:\n  steps: true\n", "train.steps: expected an integer, got True"),
    ],
)
def test_bad_config_names_the_field(tmp_path, text, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(XlgenError) as e:
        load_config(p)
    assert message in str(e.value)
    assert str(p) in str(e.value)


def test_bad_override():
    with pytest.raises(XlgenError, match="key=value"):
        apply_overrides({}, ["train.lr"])
    for item in ("=3", "train..lr=1", "train.=1"):  # was "c.yaml: : unknown config field", or a field named ""
        with pytest.raises(XlgenError, match="empty field name"):
            apply_overrides({}, [item])
    with pytest.raises(XlgenError, match="train.lr"):
        from_dict(RunConfig, apply_overrides({}, ["train.lr=abc"]))


def test_expand_path(monkeypatch):
    monkeypatch.setenv("XLGEN_DATA", "/d")
    assert expand_path("${XLGEN_DATA}/xquad/xquad.{lang}.json", "de") == "/d/xquad/xquad.de.json"
    assert expand_path("x/{name}", "fr") == "x/french"
    assert expand_path("x/{name}", "zh", {"zh": "chinese_simplified"}) == "x/chinese_simplified"
