"""The installed transformers and peft meet the declared minimums and work together on encoder-decoder PEFT methods
(peft <= 0.21.1 fails to wrap them under transformers >= 5.18). `make test-min` runs this file against the minimums."""

import re
from importlib.metadata import version
from pathlib import Path

import torch
from packaging.version import Version

from xlgen import compat

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_declared_minimums_match_the_checked_ones_and_are_installed():
    text = PYPROJECT.read_text()
    major_minor = ".".join(compat.MIN_TRANSFORMERS.split(".")[:2])
    assert re.search(rf'"transformers>={re.escape(major_minor)}(\.0)?,', text), "pyproject's transformers minimum differs from xlgen.compat"
    assert f'"peft>={compat.MIN_PEFT}"' in text, "pyproject's peft minimum differs from xlgen.compat"
    assert Version(version("transformers")) >= Version(compat.MIN_TRANSFORMERS)
    assert Version(version("peft")) >= Version(compat.MIN_PEFT)


def test_encoder_decoder_prompt_tuning_and_lora_wrap_and_generate():
    from xlgen.adaptation import get_method
    from xlgen.backbones import load_backbone
    from xlgen.config import AdaptationConfig, ModelConfig
    from xlgen.testing import tiny_model

    for method in ("prompt", "lora"):
        backbone = load_backbone(ModelConfig(name=str(tiny_model("mt5"))))
        compat.check_peft_for_encoder_decoder()
        model = get_method(AdaptationConfig(method=method, **({"prompt": {"length": 3}} if method == "prompt" else {}))).apply(backbone.model, "t5")
        batch = {"input_ids": torch.tensor([[5, 6, 7, 1]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
        out = backbone.generate(model, batch, "en", max_new_tokens=3, num_beams=1)
        assert len(out) == 1 and 1 <= len(out[0]) <= 4
