"""Inputs at the crop length, for every family and every adaptation method: a training step and generation run, and
no sequence (learned prompt included) goes past the model's positions.

The crop length is kept small so this runs fast: tiny models of the families with a position table are rebuilt with
64 positions (same config class, same tokenizer, random init like every tiny model), so their default crop is that
limit; T5-family models have relative positions and no limit, and crop to `model.max_input_length`. SQuAD paragraphs
are far longer than either, so every training input is cropped.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from xlgen.config import from_dict, GenerateConfig, RunConfig
from xlgen.testing import FAMILIES, tiny_model

LIMIT = 64  # positions of the short tiny models
T5_CROP = 40  # model.max_input_length for the relative-position (T5) family
METHODS = {
    "full": {"method": "full"},
    "freeze": {"method": "freeze"},
    "adapters": {"method": "adapters", "adapters": {"dim": 4}},
    "prompt": {"method": "prompt", "prompt": {"length": 8}},
    "lora": {"method": "lora", "lora": {"r": 2}},
    # PEFT's own default for encoder-decoders puts the learned prompt on the decoder as well.
    "peft": {"method": "peft", "peft": {"config": {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "prompt_tuning_init": "RANDOM"}}},
}


@pytest.fixture(scope="session")
def short_models(tmp_path_factory) -> dict[str, Path]:
    """Each tiny model whose config has a position table, rebuilt with LIMIT positions."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    root = tmp_path_factory.mktemp("short-models")
    out = {}
    for family in FAMILIES:
        path = Path(tiny_model(family))
        config = AutoConfig.from_pretrained(path)
        if not getattr(config, "max_position_embeddings", None):
            continue
        config.max_position_embeddings = LIMIT
        auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        model = auto.from_config(config)
        dst = root / family
        model.save_pretrained(dst)
        AutoTokenizer.from_pretrained(path).save_pretrained(dst)
        for extra in path.glob("generation_config.json"):
            shutil.copy(extra, dst / extra.name)
        out[family] = dst
    return out


def test_the_limited_families_are_the_ones_with_a_position_table(short_models):
    assert set(short_models) == {"mbart50", "nllb", "m2m100", "marian", "causal"}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("family", FAMILIES)
def test_inputs_at_the_crop_length_train_and_generate(family, method, short_models, data_dir, tmp_path):
    from xlgen.backbones.base import virtual_tokens
    from xlgen.evaluate import generate
    from xlgen.train import build_stream, make_train_state, setup, train_step

    limited = family in short_models
    xquad = str(data_dir / "xquad" / "xquad.{lang}.json")
    cfg = from_dict(RunConfig, {
        "model": {"name": str(short_models[family] if limited else tiny_model(family)), **({} if limited else {"max_input_length": T5_CROP})},
        "adaptation": METHODS[method],
        "task": {"name": "qa"},
        "data": {"train": [{"path": xquad, "lang": "en", "max_examples": 6}], "test": {"path": xquad, "languages": ["de"], "max_examples": 2}},
        "train": {"lr": 1e-3, "steps": 1, "warmup_steps": 1, "max_tokens": 4 * LIMIT},
        "output_dir": str(tmp_path / "run"),
    })
    ctx, _, data = setup(cfg, tmp_path, progress=False)
    backbone = ctx.backbone
    virtual = virtual_tokens(ctx.model)
    assert virtual == {"prompt": 8, "peft": 4}.get(method, 0)
    encoded = [e for group in build_stream(cfg, ctx.task, backbone, data).groups.values() for e in group]
    if backbone.is_encoder_decoder:
        longest = max(len(e.input_ids) for e in encoded)
        assert longest == (LIMIT - virtual if limited else T5_CROP)  # at the crop, and the prompt fits beside it
        assert max(len(e.labels) for e in encoded) + virtual <= (LIMIT if limited else 10**9)
    else:
        longest = max(len(e.input_ids) + len(e.labels) for e in encoded)
        assert longest + virtual == LIMIT  # prompt + input + target fill the positions exactly
    # A step on the longest examples, then generation as long as the positions allow.
    state = make_train_state(ctx)
    batch = sorted(encoded, key=lambda e: len(e.input_ids) + len(e.labels))[-2:]
    done = train_step(ctx, state, [batch])
    assert math.isfinite(done.loss_sum)
    gens = generate(backbone, ctx.model, data.test["de"], ctx.task, "de", GenerateConfig(max_new_tokens=LIMIT), progress=False)
    assert len(gens) == 2
