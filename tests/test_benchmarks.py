"""The GPU benchmark's code runs anywhere in its scaled-down form; its FLOP model must match the architecture."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_gpu  # noqa: E402


def test_flop_model_matches_the_architecture():
    """FlopCounterMode's fitted quadratic form against the count by hand for the tiny mT5 shape: 6 FLOPs per weight
    of every linear layer per token it reads (encoder and cross-attention keys/values: source tokens; the rest of the
    decoder and the LM head: target tokens) and 3 x 4 x d_attn per layer per pair of attending positions."""
    config = bench_gpu.shapes(tiny=True)["mt5-base"]
    backbone = bench_gpu.build(config, "cpu")
    f, err = bench_gpu.flops_model(backbone, "cpu")
    assert err < 1e-9
    per_source = per_target = 0
    for name, module in backbone.model.named_modules():
        if isinstance(module, torch.nn.Linear):
            reads_source = name.startswith("encoder.") or (".EncDecAttention." in name and name.endswith((".k", ".v")))
            if reads_source:
                per_source += module.weight.numel()
            else:
                per_target += module.weight.numel()
    d_attn, layers = config.num_heads * config.d_kv, config.num_layers
    for s, t in [(200, 30), (512, 64)]:
        attention = 3 * 4 * d_attn * layers * (s * s + t * t + s * t)
        assert f(s, t) == pytest.approx(6 * (per_source * s + per_target * t) + attention, rel=1e-9)


def test_gpu_benchmark_smoke_run_on_cpu(tmp_path):
    bench_gpu.main(["--tiny", "--device", "cpu", "--shape", "mbart-large", "--steps", "2", "--reps", "2", "--warmup", "1",
                    "--examples", "40", "--max-tokens", "1500", "--peak-tflops", "1", "--results-dir", str(tmp_path)])
    r = json.loads((tmp_path / "gpu_mbart-large_tiny.json").read_text())
    row = r["rows"][0]
    assert row["tokens_per_s"]["median"] > 0 and 0 < row["mfu"]["median"] < 1
    assert r["attention"] == "sdpa" and r["summary"]["max_tokens"] == 1500
    assert "| 1500 |" in r["markdown"]
