"""Every family's loss through the chunked output layer equals the plain path (the model's own logits), gradients
included, also under PEFT prompt tuning and LoRA."""

import random

import pytest
import torch

from xlgen.backbones import load_backbone
from xlgen.backbones.base import Encoded
from xlgen.config import AdaptationConfig, ModelConfig
from xlgen.testing import tiny_model


def _items(backbone, n=3, seed=0):
    rng = random.Random(seed)
    return [Encoded([rng.randrange(5, 200) for _ in range(rng.randint(8, 30))] + [backbone.eos_id],
                    [rng.randrange(5, 200) for _ in range(rng.randint(2, 8))] + [backbone.eos_id]) for _ in range(n)]


def _loss_and_grads(backbone, model, batch, impl):
    backbone.loss_impl = impl
    model.zero_grad(set_to_none=True)
    loss, n = backbone.loss(model, batch)
    (loss / n).backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _check(backbone, model):
    batch = backbone.collate(_items(backbone), "cpu")
    ref, ref_g = _loss_and_grads(backbone, model, batch, "plain")
    got, got_g = _loss_and_grads(backbone, model, batch, "chunked")
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert got_g.keys() == ref_g.keys() and got_g
    for k in ref_g:
        torch.testing.assert_close(got_g[k], ref_g[k], rtol=1e-4, atol=1e-6, msg=k)


@pytest.mark.parametrize("family", ["t5", "mt5", "byt5", "mbart50", "nllb", "m2m100", "marian", "causal"])
def test_chunked_equals_plain_every_family(family):
    backbone = load_backbone(ModelConfig(name=str(tiny_model(family))))
    _check(backbone, backbone.model.eval())


@pytest.mark.parametrize("family", ["mt5", "causal"])
@pytest.mark.parametrize("method", ["prompt", "lora"])
def test_chunked_equals_plain_under_peft(family, method):
    from xlgen.adaptation import get_method

    backbone = load_backbone(ModelConfig(name=str(tiny_model(family))))
    backbone.model = get_method(AdaptationConfig(method=method, **({"prompt": {"length": 4}} if method == "prompt" else {}))).apply(backbone.model, backbone.family)
    _check(backbone, backbone.model.eval())
