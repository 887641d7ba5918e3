"""Shape buckets: few shapes, budget respected at bucketed sizes, and padding changes no loss or gradient."""

import random

import pytest
import torch

from xlgen.batching import token_budget_batches
from xlgen.perf.buckets import BucketPolicy, round_up


def _costs(n=400, seed=0):
    rng = random.Random(seed)
    return [(rng.randint(150, 512), rng.randint(2, 40)) for _ in range(n)]


def test_lengths_round_up_within_the_crop():
    p = BucketPolicy(max_tokens=4000, max_source=512, max_target=128)
    assert p.lengths([(1, 1)]) == (64, 16)
    assert p.lengths([(65, 17), (3, 2)]) == (128, 32)
    assert p.lengths([(500, 120)]) == (512, 128)  # capped at the crop lengths
    assert p.lengths([(600, 1)]) == (600, 16)  # longer than the crop (never cut here): kept
    assert round_up(0, 64) == 0 and round_up(129, 64) == 192


def test_decoder_only_buckets_the_whole_sequence():
    p = BucketPolicy(max_tokens=4000, max_source=1024, max_target=32, decoder_only=True)
    assert p.lengths([(250, 5), (200, 20)]) == (256, 32)
    assert p.batch_cost([(250, 5), (200, 20)]) == 2 * 256
    assert p.shape([(250, 5)]).rows == 4000 // 256


def test_budget_holds_at_bucketed_shapes_and_shapes_are_few():
    costs = _costs()
    p = BucketPolicy(max_tokens=4000, max_source=512, max_target=128)
    batches = token_budget_batches(costs, 4000, seed=0, batch_cost=p.batch_cost)
    assert sorted(i for b in batches for i in b) == list(range(len(costs)))
    shapes = {p.shape([costs[i] for i in b]) for b in batches}
    assert all(s.tokens <= 4000 for s in shapes)
    plain = {(len(b), max(costs[i][0] for i in b), max(costs[i][1] for i in b)) for b in batches}
    assert len(shapes) <= 8 * 3 and len(shapes) < len(plain) / 3
    report = p.padding([[costs[i] for i in b] for b in batches])
    assert report["shapes"] == len(shapes)
    assert 0 <= report["padding_plain"] < report["padding_bucketed"] < 0.5


@pytest.mark.parametrize("family", ["mt5", "mbart50", "causal"])
def test_bucketed_batch_gives_the_same_loss_and_gradients(family):
    """Extra rows, columns and label slots are padding: the summed loss, the label count and every gradient match the
    unpadded batch's."""
    from xlgen.backbones import load_backbone
    from xlgen.backbones.base import Encoded
    from xlgen.config import ModelConfig
    from xlgen.testing import tiny_model

    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=96, max_target_length=24))
    model = backbone.model.eval()
    rng = random.Random(1)
    items = [Encoded([rng.randrange(5, 200) for _ in range(rng.randint(10, 40))] + [backbone.eos_id],
                     [rng.randrange(5, 200) for _ in range(rng.randint(2, 9))] + [backbone.eos_id]) for _ in range(3)]
    policy = BucketPolicy(max_tokens=600, max_source=96, max_target=24, source_multiple=32, target_multiple=8, decoder_only=not backbone.is_encoder_decoder)
    shape = policy.shape([it.cost for it in items])
    results = []
    for pad in (None, shape):
        model.zero_grad(set_to_none=True)
        batch = backbone.collate(items, "cpu", pad)
        loss, n = backbone.loss(model, batch)
        loss.backward()
        results.append((batch, loss.detach(), int(n), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}))
    (plain, l0, n0, g0), (bucketed, l1, n1, g1) = results
    assert bucketed["input_ids"].shape[0] == shape.rows > plain["input_ids"].shape[0]
    assert bucketed["input_ids"].shape[1] == shape.source
    assert n0 == n1 == sum(len(it.labels) for it in items)
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-5)
    assert g0.keys() == g1.keys()
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], rtol=1e-4, atol=1e-6, msg=k)
