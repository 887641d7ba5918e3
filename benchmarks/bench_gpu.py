"""GPU training throughput, model FLOPs utilisation (MFU) and where the step's time goes, for mT5-base-,
mBART-large- and Gemma-3-270M-shaped models, variant by variant of xlgen's training step.

    python benchmarks/bench_gpu.py                                   # every shape, variants "before" and "eager", bf16
    python benchmarks/bench_gpu.py --shape mt5-base --max-tokens 4000 16000 --variants eager compiled cudagraphs
    python benchmarks/bench_gpu.py --shape mt5-base --variants eager --attention auto efficient cudnn math
    python benchmarks/bench_gpu.py --shape mt5-base --variants eager --max-tokens 4000 --pack 1 2 4   # runs sharing a GPU
    python benchmarks/bench_gpu.py --tiny --device cpu               # a scaled-down smoke run of the same code (any machine)

Variants of the step (each one is xlgen's `train_step`, fed as `xlgen.train` feeds it):
- `before`: the step as it was before shape buckets and bf16 working weights: fp32 weights under bf16 autocast,
  exact-length batches, the model's own logits for the loss, collation in the loop.
- `eager`: what a CUDA run does by default now: bf16 working weights over fp32 masters, shape buckets, chunked
  cross-entropy, batches prepared on a background thread, pinned memory, non-blocking copies.
- `compiled` / `cudagraphs`: `eager` with `train.compile` (mode default / reduce-overhead); the first steps of each
  new shape compile, and the time that takes is reported (compile seconds) to give the break-even run length.
- `liger`: `eager` with Liger-Kernel's fused linear cross-entropy (if installed).

Random-init models with the real shapes (vocabularies of 250k/262k), SDPA attention, synthetic token ids with the
task's lengths (QA: paragraphs of 150-512 tokens, answers of 2-16; summarization: articles cropped to 512, summaries
of 20-64): throughput does not depend on which ids they are, and the GPU machine need not hold the datasets.

Model FLOPs are counted by torch's FlopCounterMode (forward and backward matmuls), not by a hand formula: a
forward+backward pass of one unpadded example costs a fixed quadratic form in its source and target lengths
(S, T, S², T², S·T), whose coefficients are fitted exactly from a few measured passes and checked on another.
MFU = model FLOPs of the real (unpadded) tokens / time / the device's peak dense bf16 FLOP/s (vendor datasheets;
`--peak-tflops` for devices not listed).

Per step the breakdown reports, in milliseconds: collate (host time of the background thread), data wait (the loop
waiting for a prepared batch), forward+backward and optimizer (host time to issue them: launches, and any wait the
host is forced into), host idle (waiting for the device at the end of a timed block, per step), and, from a short
torch.profiler trace, GPU busy (the sum of kernel times) and GPU idle (wall minus busy): a host-bound step shows GPU
idle, a device-bound one host idle.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, device_name, machine, summary, write_result  # noqa: E402

# Peak dense bf16 tensor-core throughput in TFLOP/s, from the vendors' datasheets (no sparsity). First match wins.
PEAK_BF16_TFLOPS = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("A100", 312.0), ("L40S", 362.0),
    ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.0), ("RTX 3090", 71.0),
)

TASK_LENGTHS = {"qa": ((150, 512), (2, 16)), "summarization": ((300, 1200), (20, 64))}

VARIANTS = {
    "before": dict(precision="bf16-autocast", bucketing="off", loss_impl="plain", prefetch=False, compile=False),
    "eager": dict(precision="bf16", bucketing="on", loss_impl="chunked", prefetch=True, compile=False),
    "compiled": dict(precision="bf16", bucketing="on", loss_impl="chunked", prefetch=True, compile=True, compile_mode="default"),
    "cudagraphs": dict(precision="bf16", bucketing="on", loss_impl="chunked", prefetch=True, compile=True, compile_mode="reduce-overhead"),
    "liger": dict(precision="bf16", bucketing="on", loss_impl="liger", prefetch=True, compile=False),
}


def shapes(tiny: bool) -> dict:
    from transformers import Gemma3TextConfig, MBartConfig, MT5Config

    if tiny:  # the same architectures, scaled down so a CPU runs them in seconds
        return {
            "mt5-base": MT5Config(vocab_size=4096, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4,
                                  feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0),
            "mbart-large": MBartConfig(vocab_size=4096, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                       decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=1024),
            "gemma3-270m": Gemma3TextConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                            num_key_value_heads=1, head_dim=16, sliding_window=512, max_position_embeddings=2048, tie_word_embeddings=True),
        }
    return {
        # google/mt5-base
        "mt5-base": MT5Config(vocab_size=250112, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12,
                              feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0),
        # facebook/mbart-large-50
        "mbart-large": MBartConfig(vocab_size=250054, d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                                   decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, max_position_embeddings=1024,
                                   scale_embedding=True),
        # google/gemma-3-270m (the embedded model's shape)
        "gemma3-270m": Gemma3TextConfig(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18, num_attention_heads=4,
                                        num_key_value_heads=1, head_dim=256, sliding_window=512, max_position_embeddings=32768,
                                        query_pre_attn_scalar=256, tie_word_embeddings=True),
    }


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    return next((v for k, v in PEAK_BF16_TFLOPS if k in name), None)


def build(config, device: str):
    """A Backbone around a random-init model of `config`: xlgen's collate and loss, with a minimal real tokenizer
    (ids only: the examples are synthetic, so no vocabulary file is needed)."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, PreTrainedTokenizerFast

    from xlgen.backbones.base import family_of, get_family
    from xlgen.config import ModelConfig

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2}, unk_token="<unk>")),
                                  pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config.pad_token_id, config.eos_token_id = 0, 1
    torch.manual_seed(0)
    auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    with torch.device(device):  # initialised where it runs: random init of 600M parameters is slow on a CPU
        try:
            model = auto.from_config(config, attn_implementation="sdpa")
        except (ValueError, ImportError):  # an architecture without SDPA support in this transformers version
            model = auto.from_config(config)
    model.to(device)
    family = family_of(config)
    max_target = 128
    backbone = get_family(family)(model, tok, ModelConfig(name=config.model_type, max_input_length=512, max_target_length=max_target), config.model_type)
    return backbone


def synthetic(task: str, n: int, vocab: int, seed: int = 0):
    from xlgen.backbones.base import Encoded

    rng = random.Random(seed)
    (s_lo, s_hi), (t_lo, t_hi) = TASK_LENGTHS[task]
    out = []
    for _ in range(n):
        s, t = min(rng.randint(s_lo, s_hi), 512), rng.randint(t_lo, t_hi)
        out.append(Encoded([rng.randrange(3, vocab) for _ in range(s - 1)] + [1], [rng.randrange(3, vocab) for _ in range(t - 1)] + [1]))
    return out


def flops_model(backbone, device: str):
    """FLOPs of a training pass (forward + backward) of one unpadded example as a function of (S, T), fitted exactly
    from passes counted by FlopCounterMode. Returns the function and the largest relative error on check points."""
    import numpy as np
    from torch.utils.flop_counter import FlopCounterMode

    from xlgen.backbones.base import Encoded

    def counted(s: int, t: int) -> float:
        item = Encoded([5] * (s - 1) + [1], [5] * (t - 1) + [1])
        batch = backbone.collate([item], device)
        with FlopCounterMode(display=False) as counter:
            loss, _ = backbone.loss(backbone.model, batch)
            loss.backward()
        backbone.model.zero_grad(set_to_none=True)
        return float(counter.get_total_flops())

    def features(s, t):
        return [s, t, s * s, t * t, s * t]

    fit_points = [(64, 8), (128, 8), (64, 16), (128, 32), (256, 16), (192, 24), (320, 48)]
    check_points = [(96, 12), (480, 40)]
    a = np.array([features(s, t) for s, t in fit_points], dtype=np.float64)
    y = np.array([counted(s, t) for s, t in fit_points])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)

    def f(s: int, t: int) -> float:
        return float(np.dot(coef, features(s, t)))

    err = max(abs(f(s, t) - c) / c for (s, t), c in ((p, counted(*p)) for p in check_points))
    return f, err


class Cycle:
    """Endless token-budget batches over the synthetic examples, as a training stream (state for the prefetcher)."""

    def __init__(self, encoded, batches):
        self.encoded, self.batches, self.i, self.epoch = encoded, batches, 0, 0

    def __next__(self):
        idx = self.batches[self.i % len(self.batches)]
        self.i += 1
        return [self.encoded[j] for j in idx]

    def state_dict(self):
        return {"i": self.i}


class TimedOptimizer:
    """The optimizer, marking when `train_step` hands over to it: the split between forward+backward and update."""

    def __init__(self, inner, marks: list):
        self.inner, self.marks = inner, marks
        self.param_groups = inner.param_groups

    def step(self):
        self.marks.append(time.perf_counter())
        return self.inner.step()

    def zero_grad(self, set_to_none: bool = True):
        return self.inner.zero_grad(set_to_none=set_to_none)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_variant(backbone, name: str, variant: dict, max_tokens: int, encoded, flops_of, args, peak) -> dict:
    import torch

    from xlgen.batching import token_budget_batches
    from xlgen.config import RunConfig, TrainConfig
    from xlgen.perf.prefetch import Prefetcher
    from xlgen.runtime import RunContext, resolve_precision
    from xlgen.train import collate as collate_step
    from xlgen.train import make_train_state, train_step

    device = torch.device(args.device)
    model = backbone.model
    # The run context and state a real run builds (Adam, fused; lr 1e-4, no warmup), with this variant's settings.
    cfg = RunConfig(train=TrainConfig(lr=1e-4, warmup_steps=0, max_tokens=max_tokens, attention=args.attention_setting, compile_backend="inductor", **variant))
    ctx = RunContext(cfg, backbone, None, device, resolve_precision(variant["precision"], device), progress=False)
    state = make_train_state(ctx)
    policy = state.policy
    batches = token_budget_batches([e.cost for e in encoded], max_tokens, seed=0, batch_cost=policy.batch_cost if policy else backbone.batch_cost)
    collate_s = []

    def collate(items):
        t0 = time.perf_counter()
        out = collate_step(ctx, state, items)
        collate_s.append(time.perf_counter() - t0)
        return out

    marks: list[float] = []
    state.optimizer = TimedOptimizer(state.optimizer, marks)
    stream = Prefetcher(Cycle(encoded, batches), collate, micro_batches=1, device=device, background=variant["prefetch"])
    model.train()
    phases = {"data_wait": 0.0, "fwd_bwd": 0.0, "optimizer": 0.0}

    def step(record: bool):
        t0 = time.perf_counter()
        prepared = next(stream)
        t1 = time.perf_counter()
        marks.clear()
        train_step(ctx, state, prepared)
        t2 = time.perf_counter()
        if record:
            phases["data_wait"] += t1 - t0
            phases["fwd_bwd"] += marks[0] - t1
            phases["optimizer"] += t2 - marks[0]
        return prepared

    try:
        _sync(args.device)
        t_warm = time.perf_counter()
        shapes_seen = set()
        for _ in range(args.warmup):
            prepared = step(False)
            shapes_seen.add(tuple(prepared.batches[0]["input_ids"].shape))
        _sync(args.device)
        warmup_s = time.perf_counter() - t_warm
        if getattr(args, "after_warmup", None):
            args.after_warmup()
        secs, tok_s, tgt_s, mfu, idle = [], [], [], [], []
        real_total = flops_total = 0.0
        with PeakMemory() as mem:
            span_start = time.time()
            for _ in range(args.reps):
                _sync(args.device)
                t0 = time.perf_counter()
                real = target = flops = 0
                host = 0.0
                for _ in range(args.steps):
                    before = phases["data_wait"] + phases["fwd_bwd"] + phases["optimizer"]
                    prepared = step(True)
                    host += phases["data_wait"] + phases["fwd_bwd"] + phases["optimizer"] - before
                    for micro in prepared.items:
                        for e in micro:
                            real += len(e.input_ids) + len(e.labels)
                            target += len(e.labels)
                            flops += flops_of(len(e.input_ids), len(e.labels))
                _sync(args.device)
                seconds = time.perf_counter() - t0
                secs.append(seconds)
                idle.append(max(seconds - host, 0.0))
                tok_s.append(real / seconds)
                tgt_s.append(target / seconds)
                real_total += real
                flops_total += flops
                if peak:
                    mfu.append(flops / seconds / (peak * 1e12))
            span_end = time.time()
        gpu = profile_steps(step, args) if args.device.startswith("cuda") else None
    finally:
        stream.close()
    n = args.steps * args.reps
    per_step_ms = 1000 * summary(secs)["median"] / args.steps
    breakdown = {"collate_ms": 1000 * sum(collate_s) / max(len(collate_s), 1), "data_wait_ms": 1000 * phases["data_wait"] / n,
                 "fwd_bwd_ms": 1000 * phases["fwd_bwd"] / n, "optimizer_ms": 1000 * phases["optimizer"] / n,
                 "host_idle_ms": 1000 * summary(idle)["median"] / args.steps, "step_ms": per_step_ms}
    if gpu:
        breakdown.update(gpu_busy_ms=gpu["busy_ms"], gpu_idle_ms=max(gpu["wall_ms"] - gpu["busy_ms"], 0.0), kernels_per_step=gpu["kernels"])
    pad = policy.padding([[encoded[i].cost for i in b] for b in batches]) if policy else None
    return {"variant": name, **variant, "attention": args.attention_setting, "max_tokens": max_tokens, "steps_per_rep": args.steps,
            "seconds": summary(secs), "tokens_per_s": summary(tok_s), "target_tokens_per_s": summary(tgt_s),
            "mfu": summary(mfu) if mfu else None, "peak_memory_mib": mem.peak_mib, "phases": breakdown,
            "warmup_steps": args.warmup, "warmup_s": warmup_s, "warmup_shapes": len(shapes_seen),
            "padding": pad, "span": [span_start, span_end], "real_tokens": real_total, "model_flops": flops_total}


def profile_steps(step, args, n: int = 3) -> dict | None:
    """GPU busy time and kernel count per step from a torch.profiler trace of `n` steps."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    try:
        _sync(args.device)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            for _ in range(n):
                step(False)
            torch.cuda.synchronize()
            wall = time.perf_counter() - t0
        kernels = [e for e in prof.events() if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA]
        busy = sum(e.device_time for e in kernels) / 1000.0  # µs -> ms
        return {"busy_ms": busy / n, "wall_ms": 1000 * wall / n, "kernels": len(kernels) / n}
    except Exception as e:  # the profiler is a diagnostic; its failure must not cost the measurement
        print(f"profiler unavailable: {type(e).__name__}: {e}", flush=True)
        return None


def run_shape(name: str, config, args) -> dict:
    import torch

    backbone = build(config, args.device)
    n_params = sum(p.numel() for p in backbone.model.parameters())
    flops_of, fit_err = flops_model(backbone, args.device)
    peak = peak_tflops(device_name(), args.peak_tflops) if args.device.startswith("cuda") else args.peak_tflops
    encoded = synthetic(args.task, args.examples, config.vocab_size, seed=1)
    base_state = {k: v.detach().clone() for k, v in backbone.model.state_dict().items()}
    rows = []
    for variant in args.variants:
        for attention in args.attention:
            for max_tokens in args.max_tokens:
                backbone.model.load_state_dict(base_state)
                args.attention_setting = attention
                label = f"{name} {variant} attention={attention} max_tokens={max_tokens}"
                try:
                    row = run_variant(backbone, variant, VARIANTS[variant], max_tokens, encoded, flops_of, args, peak)
                except Exception as e:  # an unavailable kernel (flash with a mask, liger not installed): recorded
                    print(f"{label}: failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
                    rows.append({"variant": variant, "attention": attention, "max_tokens": max_tokens, "error": f"{type(e).__name__}: {str(e)[:300]}"})
                    if args.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    continue
                rows.append(row)
                ph = row["phases"]
                print(f"{label}: {row['tokens_per_s']['median']:.0f} tokens/s" + (f", MFU {100 * row['mfu']['median']:.1f}%" if row["mfu"] else "")
                      + f"; per step {ph['step_ms']:.1f} ms: collate {ph['collate_ms']:.1f}, data wait {ph['data_wait_ms']:.1f}, fwd+bwd {ph['fwd_bwd_ms']:.1f}, "
                      f"optimizer {ph['optimizer_ms']:.1f}, host idle {ph['host_idle_ms']:.1f}"
                      + (f", GPU busy {ph['gpu_busy_ms']:.1f}, GPU idle {ph['gpu_idle_ms']:.1f}, {ph['kernels_per_step']:.0f} kernels" if "gpu_busy_ms" in ph else "")
                      + f"; warm-up {row['warmup_s']:.1f}s", flush=True)
    return {
        "benchmark": "gpu_train",
        "shape": name,
        "model": f"{name}-shaped random init ({n_params / 1e6:.0f}M parameters)" + (" [tiny]" if args.tiny else ""),
        "device": device_name() if args.device.startswith("cuda") else f"{args.device} ({machine()['cpu']})",
        "machine": machine(),
        "sdpa": getattr(backbone.model.config, "_attn_implementation", None),
        "task_lengths": args.task,
        "peak_tflops": peak,
        "flops_fit_max_rel_error": fit_err,
        "rows": rows,
    }


def markdown(r: dict) -> str:
    lines = [f"{r['device']}; synthetic {r['task_lengths']}-length examples; SDPA (`{r['sdpa']}`); "
             f"peak {r['peak_tflops']} TFLOP/s bf16 dense; FLOP model fitted from FlopCounterMode (max relative error {r['flops_fit_max_rel_error']:.1e}). "
             "Per-step phases in ms (host time; GPU busy/idle from a profiler trace).", "",
             "| variant | attention | tokens per batch | tokens/s | MFU | step | collate | data wait | fwd+bwd | optimizer | host idle | GPU busy | GPU idle | padding | warm-up s | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        if "error" in row:
            lines.append(f"| {row['variant']} | {row['attention']} | {row['max_tokens']} | failed: {row['error'][:80]} |" + " |" * 12)
            continue
        mfu = f"{100 * row['mfu']['median']:.1f}%" if row["mfu"] else "n/a"
        ph = row["phases"]
        pad = f"{100 * row['padding']['padding_bucketed']:.0f}%" if row["padding"] else "—"
        gpu = f"{ph['gpu_busy_ms']:.1f} | {ph['gpu_idle_ms']:.1f}" if "gpu_busy_ms" in ph else "— | —"
        lines.append(f"| {row['variant']} | {row['attention']} | {row['max_tokens']} | {row['tokens_per_s']['median']:.0f} | {mfu} | {ph['step_ms']:.1f} | "
                     f"{ph['collate_ms']:.1f} | {ph['data_wait_ms']:.1f} | {ph['fwd_bwd_ms']:.1f} | {ph['optimizer_ms']:.1f} | {ph['host_idle_ms']:.1f} | {gpu} | {pad} | "
                     f"{row['warmup_s']:.0f} | {row['peak_memory_mib']:.0f} |")
    return "\n".join(lines)


def pack(args, argv: list[str]) -> dict:
    """k copies of this benchmark as separate processes on one device, started together after their warm-up: the
    aggregate throughput and MFU of k runs sharing the GPU (what `executor.parallel_runs` / `gpus_per_run: 1/k` do)."""
    import tempfile

    out = []
    passthrough = [a for a in argv]
    i = passthrough.index("--pack")
    j = i + 1
    while j < len(passthrough) and not passthrough[j].startswith("--"):
        j += 1
    passthrough = passthrough[:i] + passthrough[j:]
    for k in args.pack:
        with tempfile.TemporaryDirectory() as tmp:
            procs = [subprocess.Popen([sys.executable, __file__, *passthrough, "--worker", f"{tmp}:{k}:{w}", "--results-dir", f"{tmp}/w{w}"]) for w in range(k)]
            codes = [p.wait() for p in procs]
            rows = []
            for w in range(k):
                files = list(Path(f"{tmp}/w{w}").glob("gpu_*.json"))
                if files:
                    rows += [row for row in json.loads(files[0].read_text())["rows"] if "error" not in row]
        if len(rows) < k:
            out.append({"k": k, "error": f"{k - len(rows)} worker(s) failed (exit codes {codes})"})
            continue
        start, end = min(r["span"][0] for r in rows), max(r["span"][1] for r in rows)
        tokens, flops = sum(r["real_tokens"] for r in rows), sum(r["model_flops"] for r in rows)
        step_s = [r["seconds"]["median"] / r["steps_per_rep"] for r in rows]
        peak = peak_tflops(device_name(), args.peak_tflops) if args.device.startswith("cuda") else args.peak_tflops
        res = {"k": k, "tokens_per_s": tokens / (end - start), "mfu": flops / (end - start) / (peak * 1e12) if peak else None,
               "step_s_per_run": sum(step_s) / k, "runs_per_hour_at_20k_steps": k * 3600 / (20000 * sum(step_s) / k)}
        out.append(res)
        print(f"pack k={k}: {res['tokens_per_s']:.0f} tokens/s" + (f", aggregate MFU {100 * res['mfu']:.1f}%" if res["mfu"] else "")
              + f", {res['runs_per_hour_at_20k_steps']:.2f} paper-length runs/hour", flush=True)
    return {"benchmark": "gpu_pack", "device": device_name(), "args": passthrough, "rows": out}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=["mt5-base", "mbart-large", "gemma3-270m", "all"], default="all")
    ap.add_argument("--task", choices=sorted(TASK_LENGTHS), default="summarization")
    ap.add_argument("--max-tokens", type=int, nargs="+", default=[4000, 16000])
    ap.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["before", "eager"])
    ap.add_argument("--attention", nargs="+", default=["auto"], help="train.attention settings to measure (auto, efficient, cudnn, math, flash, or lists)")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per timed repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--tiny", action="store_true", help="scaled-down shapes, for a smoke run on CPU")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak bf16 TFLOP/s, if not in the table")
    ap.add_argument("--pack", type=int, nargs="+", default=None, help="measure k runs sharing the device, for each k given")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--results-dir", default=None, help="default: benchmarks/results")
    ap.add_argument("--out", default=None, help="result name (default: gpu_<shape>[_tiny])")
    args = ap.parse_args(argv)
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device == "cpu" and not args.tiny:
        sys.exit("bench_gpu.py measures a GPU; no CUDA device is visible (use --tiny --device cpu for a smoke run)")
    if args.pack:
        r = pack(args, argv)
        r["markdown"] = "\n".join(["| runs per GPU | tokens/s (all runs) | aggregate MFU | paper-length (20k-step) runs per hour |", "|---|---|---|---|"]
                                  + [f"| {row['k']} | " + (f"failed: {row['error']} | | |" if "error" in row else
                                     f"{row['tokens_per_s']:.0f} | {100 * row['mfu']:.1f}% | {row['runs_per_hour_at_20k_steps']:.2f} |" if row["mfu"] is not None else
                                     f"{row['tokens_per_s']:.0f} | n/a | {row['runs_per_hour_at_20k_steps']:.2f} |") for row in r["rows"]])
        path = write_result(args.out or f"gpu_pack{'_tiny' if args.tiny else ''}", r, args.results_dir)
        print(f"-> {path}")
        return
    if args.worker:
        _barrier_after_warmup(args)
    for name, config in shapes(args.tiny).items():
        if args.shape not in ("all", name):
            continue
        r = run_shape(name, config, args)
        r["markdown"] = markdown(r)
        ok = [row for row in r["rows"] if "error" not in row]
        best = max(ok, key=lambda row: row["tokens_per_s"]["median"]) if ok else None
        r["summary"] = {"device": r["device"], "model": r["model"]}
        if best:
            r["summary"].update(tokens_per_s=best["tokens_per_s"]["median"], mfu=best["mfu"]["median"] if best["mfu"] else None,
                                max_tokens=best["max_tokens"], variant=best["variant"])
        path = write_result(args.out or f"gpu_{name}{'_tiny' if args.tiny else ''}", r, args.results_dir)
        print(f"-> {path}")


def _barrier_after_warmup(args) -> None:
    """Packed workers: the warm-up of each counts nothing, so all start timing together: a worker announces it is
    warm (a file) and waits for the others before its timed repetitions."""
    tmp, k, w = args.worker.split(":")

    def wait_for_all():
        (Path(tmp) / f"ready.{w}").write_text(str(os.getpid()))
        deadline = time.time() + 1800
        while len(list(Path(tmp).glob("ready.*"))) < int(k) and time.time() < deadline:
            time.sleep(0.05)
        args.after_warmup = None

    args.after_warmup = wait_for_all


if __name__ == "__main__":
    main()
