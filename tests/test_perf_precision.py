"""bf16 working weights over fp32 masters train like fp32: same loss curve within bf16 tolerance, fp32 masters updated,
tied weights kept tied, and the bf16 copies follow every update."""

import json
from pathlib import Path

import pytest
import torch

from xlgen.perf.precision import WorkingWeights, resolve_precision


def _curve(tmp_path, data_dir, family, precision):
    from test_train import small_run

    from xlgen.train import train

    cfg = small_run(tmp_path / precision, family, data_dir, steps=12, lr=3e-3, warmup_steps=2, eval_every=100, save_every=100, precision=precision, log_every=1)
    cfg.data.dev, cfg.data.test = None, None
    results = train(cfg, progress=False)
    assert results["precision"] == precision
    return [json.loads(line)["loss"] for line in open(Path(cfg.output_dir) / "train_log.jsonl")]


@pytest.mark.parametrize("family", ["mt5", "causal"])
def test_bf16_loss_curve_matches_fp32(tmp_path, data_dir, family):
    """12 steps at a high learning rate (the loss falls by at least 0.3 nats): the bf16 curves (working weights, and
    plain autocast) stay within 3% of the fp32 curve at every step."""
    fp32 = _curve(tmp_path, data_dir, family, "fp32")
    bf16 = _curve(tmp_path, data_dir, family, "bf16")
    autocast = _curve(tmp_path, data_dir, family, "bf16-autocast")
    assert fp32[-1] < fp32[0] - 0.3  # it learns (nats), so the comparison means something
    assert bf16 == pytest.approx(fp32, rel=0.03)
    assert autocast == pytest.approx(fp32, rel=0.03)


def test_working_weights_swap_update_and_stay_tied():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight  # tied
    model = torch.nn.Sequential(emb, torch.nn.Linear(4, 4), head)
    frozen = model[1].bias
    frozen.requires_grad_(False)
    ww = WorkingWeights(model)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = emb.weight.detach().clone()
    x = torch.tensor([[1, 2, 3]])
    with ww.swapped():
        assert model[0].weight.dtype == torch.bfloat16 and model[2].weight is model[0].weight
        out = model(x).float().sum()
    assert model[0].weight.dtype == torch.float32  # restored
    out.backward()
    ww.collect_grads()
    assert emb.weight.grad is not None and emb.weight.grad.dtype == torch.float32
    assert frozen.grad is None
    opt.step()
    opt.zero_grad(set_to_none=True)
    ww.refresh()
    assert not torch.equal(emb.weight, before)
    torch.testing.assert_close(ww.stand_in[id(emb.weight)].float(), emb.weight.detach(), rtol=1e-2, atol=1e-2)


def test_grad_accumulation_sums_in_fp32():
    model = torch.nn.Linear(3, 1, bias=False)
    ww = WorkingWeights(model)
    for _ in range(3):
        with ww.swapped():
            model(torch.ones(1, 3, dtype=torch.bfloat16)).float().sum().backward()
        ww.collect_grads()
    torch.testing.assert_close(model.weight.grad, torch.full((1, 3), 3.0))


def test_precision_names():
    from xlgen.errors import XlgenError

    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16-autocast", torch.device("cpu")) == "bf16-autocast"
    with pytest.raises(XlgenError, match="train.precision"):
        resolve_precision("fp16", torch.device("cpu"))


@pytest.mark.parametrize("amx, avx512_bf16, expected", [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")])
def test_native_precision_follows_the_cpu_bf16_units(monkeypatch, amx, avx512_bf16, expected):
    """`native` is bf16 on a CPU with bf16 units and fp32 on one without (where bf16 is emulated, slower than fp32);
    `auto` stays fp32 on every CPU. The CPU's answers are replaced, the resolution logic is the real one."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert resolve_precision("native", torch.device("cpu")) == expected
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


@pytest.mark.parametrize("family", ["t5", "mbart50", "nllb", "m2m100", "marian"])
def test_every_family_trains_with_bf16_working_weights(tmp_path, data_dir, family):
    """Families with fp32 buffers (M2M100's sinusoidal positions, mBART's final-logits bias) meet bf16 weights under
    autocast without dtype errors, and the loss stays finite."""
    from test_train import small_run

    from xlgen.train import train

    cfg = small_run(tmp_path, family, data_dir, steps=2, eval_every=100, save_every=100, precision="bf16")
    cfg.data.dev, cfg.data.test = None, None
    train(cfg, progress=False)
    losses = [json.loads(line)["loss"] for line in open(Path(cfg.output_dir) / "train_log.jsonl")]
    assert len(losses) == 2 and all(loss == loss and loss < 100 for loss in losses)


@pytest.mark.parametrize("family", ["causal", "m2m100"])
def test_generation_with_bf16_weights(data_dir, family):
    """Evaluation decodes with bf16 copies of the weights (precision bf16): it runs for a decoder-only model (shared
    paragraph prefixes) and an encoder-decoder with fp32 buffers, and leaves the fp32 model in place."""
    from xlgen.backbones import load_backbone
    from xlgen.config import DatasetSpec, GenerateConfig, ModelConfig, TaskConfig
    from xlgen.evaluate import generate
    from xlgen.tasks import get_task
    from xlgen.testing import tiny_model

    backbone = load_backbone(ModelConfig(name=str(tiny_model(family)), max_input_length=96))
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir / "xquad" / "xquad.{lang}.json"), max_examples=6), "de")
    out = generate(backbone, backbone.model, exs, task, "de", GenerateConfig(max_new_tokens=4), precision="bf16", progress=False)
    assert len(out) == 6 and all(isinstance(g.raw, str) for g in out)
    assert all(p.dtype == torch.float32 for p in backbone.model.parameters())
