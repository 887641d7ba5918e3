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
    """The variants before and after issue 9, with the per-phase breakdown, on the tiny shape."""
    bench_gpu.main(["--tiny", "--device", "cpu", "--shape", "mbart-large", "--variants", "before", "eager", "--steps", "2", "--reps", "2", "--warmup", "1",
                    "--examples", "40", "--max-tokens", "1500", "--peak-tflops", "1", "--results-dir", str(tmp_path)])
    r = json.loads((tmp_path / "gpu_mbart-large_tiny.json").read_text())
    assert [row["variant"] for row in r["rows"]] == ["before", "eager"]
    for row in r["rows"]:
        assert row["tokens_per_s"]["median"] > 0 and 0 < row["mfu"]["median"] < 1
        assert {"collate_ms", "data_wait_ms", "fwd_bwd_ms", "optimizer_ms", "host_idle_ms", "step_ms"} <= set(row["phases"])
    before, eager = r["rows"]
    assert before["padding"] is None and 0 < eager["padding"]["padding_bucketed"] < 0.6
    assert r["sdpa"] == "sdpa" and r["summary"]["max_tokens"] == 1500
    assert "| eager | auto | 1500 |" in r["markdown"]


def test_gpu_session_runs_its_sections_and_merges_the_results(tmp_path):
    """The one-shot GPU script's orchestration, on CPU: sections run in their own processes, results merge into the
    three files the device tool can return, and a recorded session imports into benchmarks/results."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, str(repo / "benchmarks" / "gpu_session.py"), "--tiny", "--device", "cpu", "--out", str(out),
                        "--sections", "env,correctness", "--deadline", "600"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert sorted(f.name for f in out.iterdir()) == ["gpu_session.json", "gpu_session.log", "gpu_session.md"]
    merged = json.loads((out / "gpu_session.json").read_text())
    assert list(merged["sections"]) == ["env", "correctness"] and merged["tiny"]
    check = merged["sections"]["correctness"]["results"]["correctness.json"]["results"]
    assert check["chunked"]["loss_rel_diff"] < 1e-2
    assert check["chunked"]["grad_w_max_abs_diff"] <= 0.05 * check["chunked"]["grad_w_max_abs"]
    assert "## correctness" in (out / "gpu_session.md").read_text()
