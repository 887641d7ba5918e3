"""Batched generation gives the outputs of a plain per-example loop: sorted-length batches, and for decoder-only models
the shared-prefix path (one paragraph, several questions)."""

import pytest
import torch

from xlgen.backbones import load_backbone
from xlgen.config import DatasetSpec, GenerateConfig, ModelConfig, TaskConfig
from xlgen.evaluate import _can_share_prefix, generate
from xlgen.tasks import get_task
from xlgen.testing import tiny_model


def loop_outputs(backbone, exs, task, lang, max_new):
    outs = []
    for e in backbone.encode(exs, task, target_lang=lang, with_target=False):
        ids = backbone.generate(backbone.model, backbone.collate([e], "cpu"), lang, max_new, 1)[0]
        outs.append(backbone.decode(ids))
    return outs


@pytest.mark.parametrize("family", ["causal", "mt5", "mbart50"])
def test_batched_equals_per_example_loop(data_dir, family):
    torch.manual_seed(0)
    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=96))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=14), "de")
    gen = GenerateConfig(max_new_tokens=6, max_tokens=600)
    encoded = backbone.encode(exs, task, target_lang="de", with_target=False)
    assert _can_share_prefix(backbone, backbone.model, encoded, gen) == (family == "causal")
    batched = [g.raw for g in generate(backbone, backbone.model, exs, task, "de", gen, progress=False)]
    assert batched == loop_outputs(backbone, exs, task, "de", 6)


def test_shared_prefix_rows_see_their_own_positions(data_dir):
    """Rows of one batch with prefixes and suffixes of different lengths: same logits as each row alone."""
    backbone = load_backbone(ModelConfig(name=str(tiny_model("causal")), max_input_length=80))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=40), "en")
    picked = [exs[0], exs[1], exs[-1], exs[-2], exs[20]]  # two paragraphs twice, one once
    enc = backbone.encode(picked, task, target_lang="en", with_target=False)
    shared = backbone.generate_shared(backbone.model, enc, "en", 8, "cpu")
    alone = [backbone.generate(backbone.model, backbone.collate([e], "cpu"), "en", 8, 1)[0] for e in enc]
    assert [backbone.decode(r) for r in shared] == [backbone.decode(r) for r in alone]
