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


def test_greedy_decode_drops_finished_rows_and_decodes_what_generate_does(data_dir):
    """Rows that end early leave the batch and the cache (the forward passes shrink), and every row's tokens are those
    of transformers' `generate` with the same logits processor; here a processor ends row r after r % 4 + 1 tokens."""
    from transformers import LogitsProcessor, LogitsProcessorList

    backbone = load_backbone(ModelConfig(name=str(tiny_model("causal")), max_input_length=80))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=12), "de")
    enc = backbone.encode(exs, task, target_lang="de", with_target=False)
    eos = backbone.eos_id

    class EndAt(LogitsProcessor):
        def __init__(self):
            self.start = None

        def __call__(self, input_ids, scores):
            self.start = self.start or input_ids.shape[1]
            made = input_ids.shape[1] - self.start
            scores[:, eos] = float("-inf")
            for r in range(scores.shape[0]):
                if made == r % 4 + 1:
                    scores[r] = float("-inf")
                    scores[r, eos] = 0.0
            return scores

    sizes = []
    model = backbone.model
    real = model.forward
    model.forward = lambda *a, **k: sizes.append(k["input_ids"].shape[0]) or real(*a, **k)
    try:
        shared = backbone.generate_shared(model, enc, "de", 8, "cpu", logits_processor=LogitsProcessorList([EndAt()]))
    finally:
        del model.forward
    plain = backbone.generate(model, backbone.collate(enc, "cpu"), "de", 8, 1, logits_processor=LogitsProcessorList([EndAt()]))
    assert [backbone.decode(r) for r in shared] == [backbone.decode(r) for r in plain]
    assert [r.index(eos) for r in shared] == [i % 4 + 1 for i in range(len(enc))]
    assert sizes[0] == len(enc) and sizes == sorted(sizes, reverse=True) and sizes[-1] < len(enc)
