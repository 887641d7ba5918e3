"""GPU training throughput and model FLOPs utilisation (MFU) of mT5-base- and mBART-large-shaped models.

    python benchmarks/bench_gpu.py                         # both shapes, bf16, on the GPU
    python benchmarks/bench_gpu.py --shape mt5-base --max-tokens 4000 16000 --compile
    python benchmarks/bench_gpu.py --tiny --device cpu     # a scaled-down smoke run of the same code (any machine)

Random-init models with the real shapes (vocabularies of 250k), SDPA attention, bf16 autocast over fp32 master
weights, xlgen's own training step (token-budget batches with length grouping, fused Adam). The examples are
synthetic token ids with the lengths of the task (QA: paragraphs of 150-512 tokens, answers of 2-16;
summarization: articles cropped to 512, summaries of 20-64): throughput does not depend on which ids they are,
and the GPU machine need not hold the datasets.

Model FLOPs are counted by torch's FlopCounterMode (forward and backward matmuls), not by a hand formula: a
forward+backward pass of one unpadded example costs a fixed quadratic form in its source and target lengths
(S, T, S², T², S·T: linear layers, self- and cross-attention), whose coefficients are fitted exactly from a few
measured passes and checked on another. MFU = model FLOPs of the real (unpadded) tokens / time / the device's
peak dense bf16 FLOP/s (vendor datasheets; `--peak-tflops` for devices not listed).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, device_name, machine, summary, timer, write_result  # noqa: E402

# Peak dense bf16 tensor-core throughput in TFLOP/s, from the vendors' datasheets (no sparsity). First match wins.
PEAK_BF16_TFLOPS = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("A100", 312.0), ("L40S", 362.0),
    ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.0), ("RTX 3090", 71.0),
)

TASK_LENGTHS = {"qa": ((150, 512), (2, 16)), "summarization": ((300, 1200), (20, 64))}


def shapes(tiny: bool) -> dict:
    from transformers import MBartConfig, MT5Config

    if tiny:  # the same architectures, scaled down so a CPU runs them in seconds
        return {
            "mt5-base": MT5Config(vocab_size=4096, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4,
                                  feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0),
            "mbart-large": MBartConfig(vocab_size=4096, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                       decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=1024),
        }
    return {
        # google/mt5-base
        "mt5-base": MT5Config(vocab_size=250112, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12,
                              feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0),
        # facebook/mbart-large-50
        "mbart-large": MBartConfig(vocab_size=250054, d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16,
                                   decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, max_position_embeddings=1024,
                                   scale_embedding=True),
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
    from transformers import AutoModelForSeq2SeqLM, PreTrainedTokenizerFast

    from xlgen.backbones.base import family_of, get_family
    from xlgen.config import ModelConfig

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2}, unk_token="<unk>")),
                                  pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config.pad_token_id, config.eos_token_id = 0, 1
    torch.manual_seed(0)
    try:
        model = AutoModelForSeq2SeqLM.from_config(config, attn_implementation="sdpa")
    except (ValueError, ImportError):  # an architecture without SDPA support in this transformers version
        model = AutoModelForSeq2SeqLM.from_config(config)
    model.to(device)
    backbone = get_family(family_of(config))(model, tok, ModelConfig(name=config.model_type, max_input_length=512, max_target_length=128), config.model_type)
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


def run_shape(name: str, config, args) -> dict:
    import torch

    from xlgen.batching import token_budget_batches
    from xlgen.config import RunConfig, TrainConfig
    from xlgen.runtime import RunContext
    from xlgen.train import make_train_state, train_step

    device = args.device
    backbone = build(config, device)
    model = backbone.model
    n_params = sum(p.numel() for p in model.parameters())
    flops_of, fit_err = flops_model(backbone, device)
    precision = "bf16" if device.startswith("cuda") else "fp32"
    peak = peak_tflops(device_name(), args.peak_tflops) if device.startswith("cuda") else args.peak_tflops
    # The run context and state a real run builds (Adam, fused; lr 1e-4, no warmup), and its own train_step.
    cfg = RunConfig(train=TrainConfig(lr=1e-4, warmup_steps=0, compile=args.compile, compile_backend="inductor"))
    ctx = RunContext(cfg, backbone, None, torch.device(device), precision, progress=False)
    state = make_train_state(ctx)
    encoded = synthetic(args.task, args.examples, config.vocab_size, seed=1)
    model.train()

    def step(idx):
        train_step(ctx, state, [[encoded[i] for i in idx]])

    rows = []
    for max_tokens in args.max_tokens:
        batches = token_budget_batches([e.cost for e in encoded], max_tokens, seed=0, batch_cost=backbone.batch_cost)
        need = args.warmup + args.steps * args.reps
        batches = (batches * (need // max(len(batches), 1) + 1))[:need]
        for idx in batches[: args.warmup]:  # allocator, cuBLAS heuristics, compilation: not counted
            step(idx)
        secs, tok_s, tgt_s, mfu = [], [], [], []
        with PeakMemory() as mem:
            for r in range(args.reps):
                chunk = batches[args.warmup + r * args.steps : args.warmup + (r + 1) * args.steps]
                real = sum(len(encoded[i].input_ids) + len(encoded[i].labels) for idx in chunk for i in idx)
                target = sum(len(encoded[i].labels) for idx in chunk for i in idx)
                flops = sum(flops_of(len(encoded[i].input_ids), len(encoded[i].labels)) for idx in chunk for i in idx)
                with timer() as t:
                    for idx in chunk:
                        step(idx)
                secs.append(t["seconds"])
                tok_s.append(real / t["seconds"])
                tgt_s.append(target / t["seconds"])
                if peak:
                    mfu.append(flops / t["seconds"] / (peak * 1e12))
        row = {"max_tokens": max_tokens, "steps_per_rep": args.steps, "seconds": summary(secs), "tokens_per_s": summary(tok_s),
               "target_tokens_per_s": summary(tgt_s), "peak_memory_mib": mem.peak_mib, "mfu": summary(mfu) if mfu else None}
        rows.append(row)
        print(f"{name} max_tokens={max_tokens}: {row['tokens_per_s']['median']:.0f} tokens/s" + (f", MFU {100 * row['mfu']['median']:.1f}%" if mfu else ""), flush=True)
    return {
        "benchmark": "gpu_train",
        "model": f"{name}-shaped random init ({n_params / 1e6:.0f}M parameters)" + (" [tiny]" if args.tiny else ""),
        "device": device_name() if device.startswith("cuda") else f"{device} ({machine()['cpu']})",
        "machine": machine(),
        "precision": precision,
        "attention": getattr(model.config, "_attn_implementation", None),
        "compile": args.compile,
        "task_lengths": args.task,
        "peak_tflops": peak,
        "flops_fit_max_rel_error": fit_err,
        "rows": rows,
    }


def markdown(r: dict) -> str:
    lines = [f"{r['device']}, {r['precision']}, attention `{r['attention']}`, torch.compile {'on' if r['compile'] else 'off'}; synthetic {r['task_lengths']}-length examples; "
             f"peak {r['peak_tflops']} TFLOP/s bf16 dense; FLOP model fitted from FlopCounterMode (max relative error {r['flops_fit_max_rel_error']:.1e}).", "",
             "| tokens per batch | tokens/s | target tokens/s | MFU | peak memory (MiB) |", "|---|---|---|---|---|"]
    for row in r["rows"]:
        mfu = f"{100 * row['mfu']['median']:.1f}% ({100 * row['mfu']['min']:.1f}–{100 * row['mfu']['max']:.1f})" if row["mfu"] else "n/a (peak unknown)"
        lines.append(f"| {row['max_tokens']} | {row['tokens_per_s']['median']:.0f} | {row['target_tokens_per_s']['median']:.0f} | {mfu} | {row['peak_memory_mib']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=["mt5-base", "mbart-large", "all"], default="all")
    ap.add_argument("--task", choices=sorted(TASK_LENGTHS), default="summarization")
    ap.add_argument("--max-tokens", type=int, nargs="+", default=[4000, 16000])
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per timed repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--tiny", action="store_true", help="scaled-down shapes, for a smoke run on CPU")
    ap.add_argument("--compile", action="store_true", help="torch.compile the loss (train.compile)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak bf16 TFLOP/s, if not in the table")
    ap.add_argument("--results-dir", default=None, help="default: benchmarks/results")
    args = ap.parse_args(argv)
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device == "cpu" and not args.tiny:
        sys.exit("bench_gpu.py measures a GPU; no CUDA device is visible (use --tiny --device cpu for a smoke run)")
    for name, config in shapes(args.tiny).items():
        if args.shape not in ("all", name):
            continue
        r = run_shape(name, config, args)
        r["markdown"] = markdown(r)
        best = max(r["rows"], key=lambda row: row["tokens_per_s"]["median"])
        r["summary"] = {"tokens_per_s": best["tokens_per_s"]["median"], "mfu": best["mfu"]["median"] if best["mfu"] else None,
                        "max_tokens": best["max_tokens"], "device": r["device"], "model": r["model"]}
        path = write_result(f"gpu_{name}{'_tiny' if args.tiny else ''}", r, args.results_dir)
        print(f"-> {path}")


if __name__ == "__main__":
    main()
