"""Training throughput and peak memory: xlgen's training step against transformers' Trainer / Seq2SeqTrainer.

    python benchmarks/bench_train.py --model embedded --steps 6 --reps 3

Same model, same English QA examples, same precision, same optimizer (Adam, fused), and the same number of real
tokens per optimizer step on average: xlgen runs its own `train.train_step` (the function training calls) on
token-budget batches with length grouping (and, for decoder-only
models, computes the output projection only at labelled positions); the Trainer gets a fixed batch size chosen so that
its batches hold as many real tokens, padded to the longest example by its default collator (DataCollatorForSeq2Seq),
and computes the full logits. Each contender runs one epoch over the same example set per repetition, alternating.
"""

from __future__ import annotations

import argparse
import copy
import gc
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, data_dir, device_name, machine, midsize_mt5, summary, timer, write_result  # noqa: E402


def load(model_name: str):
    import torch

    from xlgen.backbones import load_backbone
    from xlgen.config import ModelConfig

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_backbone(ModelConfig(name=model_name, max_input_length=384, max_target_length=32), device), device


def examples(n: int, seed: int = 0):
    from xlgen.config import DatasetSpec, TaskConfig
    from xlgen.tasks import get_task

    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir() / "squad_v1.1_dev_reconstructed" / "squad_v1.1_dev_minus_xquad.json")), "en")
    random.Random(seed).shuffle(exs)
    return task, exs[:n]


def xlgen_context(backbone, task, device, precision, max_tokens, compile=False):
    """The run context a real run would hand its steps: Adam (fused), lr 1e-5, no warmup."""
    import torch

    from xlgen.config import RunConfig, TrainConfig
    from xlgen.runtime import RunContext

    cfg = RunConfig(train=TrainConfig(lr=1e-5, warmup_steps=0, max_tokens=max_tokens, compile=compile))
    return RunContext(cfg, backbone, task, torch.device(device), precision, progress=False)


class _Epoch:
    """One pass over fixed batches as a training stream (what xlgen.perf.prefetch.Prefetcher reads)."""

    def __init__(self, encoded, batches):
        self.encoded, self.batches, self.epoch, self.i = encoded, batches, 0, 0

    def __next__(self):
        if self.i >= len(self.batches):
            raise StopIteration
        self.i += 1
        return [self.encoded[j] for j in self.batches[self.i - 1]]

    def state_dict(self):
        return {"i": self.i}


def xlgen_epoch(ctx, encoded, max_tokens, loss_fn=None):
    """One pass over `encoded`, one xlgen.train.train_step per token-budget batch, fed as xlgen.train feeds it: the
    batch cost of the run's shape buckets (where it buckets), micro-batches collated ahead on a thread."""
    from xlgen.batching import token_budget_batches
    from xlgen.perf.prefetch import Prefetcher
    from xlgen.train import collate, make_train_state, train_step

    state = make_train_state(ctx)
    if loss_fn is not None:
        state.loss_fn = loss_fn  # compiled once, outside the timed epochs' setup
    cost = state.policy.batch_cost if state.policy else ctx.backbone.batch_cost
    batches = token_budget_batches([e.cost for e in encoded], max_tokens, seed=0, batch_cost=cost)
    ctx.model.train()
    loss = 0
    with Prefetcher(_Epoch(encoded, batches), lambda items: collate(ctx, state, items), micro_batches=1, device=ctx.device, background=ctx.cfg.train.prefetch) as stream:
        for _ in batches:
            loss = loss + train_step(ctx, state, next(stream)).loss_sum
    float(loss)  # the epoch ends when the device is done
    return len(batches)


def trainer_epoch(backbone, model, encoded, batch_size, device, precision, out_dir):
    """One pass with transformers' Trainer and its default seq2seq collator (padding to the longest in the batch)."""
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainingArguments

    if backbone.is_encoder_decoder:
        rows = [{"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels} for e in encoded]
        args_cls, trainer_cls = Seq2SeqTrainingArguments, Seq2SeqTrainer
    else:
        rows = [{"input_ids": e.input_ids + e.labels, "attention_mask": [1] * (len(e.input_ids) + len(e.labels)), "labels": [-100] * len(e.input_ids) + e.labels} for e in encoded]
        args_cls, trainer_cls = TrainingArguments, Trainer
    ds = rows  # a list is a map-style dataset; the GPU machine need not have `datasets`
    args = args_cls(
        output_dir=str(out_dir), per_device_train_batch_size=batch_size, num_train_epochs=1, learning_rate=1e-5, weight_decay=0.0,
        optim="adamw_torch_fused", lr_scheduler_type="constant", report_to=[], save_strategy="no", logging_strategy="no",
        dataloader_num_workers=0, bf16=precision == "bf16", use_cpu=device == "cpu", disable_tqdm=True, seed=0,
    )
    collator = DataCollatorForSeq2Seq(backbone.tokenizer, model=model, padding="longest")
    trainer = trainer_cls(model=model, args=args, train_dataset=ds, data_collator=collator)
    trainer.train()
    return (len(rows) + batch_size - 1) // batch_size


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded", help="embedded | midsize-mt5 | a model directory or hub name")
    ap.add_argument("--examples", type=int, default=48)
    ap.add_argument("--max-tokens", type=int, default=1500)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--results-dir", default=None)
    ap.add_argument("--synthetic", default=None, choices=["mt5-base", "mbart-large", "gemma3-270m"],
                    help="a random-init model of this shape (bench_gpu.py) on synthetic QA-length examples: no data or weights needed (the GPU machine)")
    ap.add_argument("--tiny", action="store_true", help="with --synthetic: the scaled-down shape (a smoke run)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--compile", action="store_true", help="add a contender: xlgen with train.compile (inductor)")
    args = ap.parse_args(argv)
    import tempfile

    import torch

    task = None
    if args.synthetic:
        import bench_gpu

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = bench_gpu.shapes(args.tiny)[args.synthetic]
        backbone = bench_gpu.build(config, device)
        backbone.max_input_length, backbone.max_target_length = 384, 32  # as `load` crops the real models
        encoded = bench_gpu.synthetic("qa", args.examples, config.vocab_size, seed=2)
        encoded = [type(e)(e.input_ids[:383] + [1], e.labels) if len(e.input_ids) > 384 else e for e in encoded]
        args.model = f"{args.synthetic}-shaped random init" + (" [tiny]" if args.tiny else "")
    else:
        name = args.model
        if name == "midsize-mt5":
            name = str(midsize_mt5(Path(tempfile.gettempdir()) / "xlgen-bench-midsize-mt5"))
        backbone, device = load(name)
        task, exs = examples(args.examples)
        encoded = backbone.encode(exs, task)
    # bf16 on a GPU: xlgen's default there (bf16 working weights over fp32 masters); the Trainer's `bf16=True` (autocast).
    precision = "bf16" if device == "cuda" else "fp32"
    real = sum(len(e.input_ids) + len(e.labels) for e in encoded)
    target = sum(len(e.labels) for e in encoded)
    batches = len(__import__("xlgen.batching", fromlist=["x"]).token_budget_batches([e.cost for e in encoded], args.max_tokens, seed=0, batch_cost=backbone.batch_cost))
    batch_size = max(1, round(len(encoded) / batches))  # same number of optimizer steps, so the same real tokens per step
    base_state = copy.deepcopy(backbone.model.state_dict())
    ctx = xlgen_context(backbone, task, device, precision, args.max_tokens)
    contenders = ["xlgen", "trainer"] + (["xlgen+compile"] if args.compile else [])
    results = {k: [] for k in contenders}
    memory = {k: [] for k in contenders}
    compiled = None
    if args.compile:
        from xlgen.config import TrainConfig
        from xlgen.train import loss_function

        compiled = loss_function(backbone, TrainConfig(compile=True, compile_backend="inductor", max_tokens=args.max_tokens), torch.device(device).type)
    compile_s = None
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps + 1):  # the first repetition warms up caches and allocators; not counted
            for who in contenders:
                backbone.model.load_state_dict(base_state)
                gc.collect()
                with PeakMemory() as mem, timer() as t:
                    if who == "xlgen":
                        steps = xlgen_epoch(ctx, encoded, args.max_tokens)
                    elif who == "xlgen+compile":
                        steps = xlgen_epoch(xlgen_context(backbone, task, device, precision, args.max_tokens, compile=True), encoded, args.max_tokens, compiled)
                    else:
                        steps = trainer_epoch(backbone, backbone.model, encoded, batch_size, device, precision, tmp)
                if rep == 0 and who == "xlgen+compile":
                    compile_s = t["seconds"]  # the warm-up epoch: compilation for every new shape class
                if rep > 0:
                    results[who].append(t["seconds"])
                    memory[who].append(mem.added_mib if device == "cpu" else mem.peak_mib)
                print(f"rep {rep} {who}: {steps} steps, {t['seconds']:.1f}s", flush=True)
    out = {
        "benchmark": "train",
        "model": args.model,
        "device": device_name(),
        "machine": machine(),
        "precision": precision,
        "examples": len(encoded),
        "real_tokens": real,
        "target_tokens": target,
        "xlgen_max_tokens": args.max_tokens,
        "trainer_batch_size": batch_size,
        "optimizer_steps": batches,
        "seconds": {k: summary(v) for k, v in results.items()},
        "target_tokens_per_s": {k: summary([target / s for s in v]) for k, v in results.items()},
        "tokens_per_s": {k: summary([real / s for s in v]) for k, v in results.items()},
        "peak_memory_mib": {k: summary(v) for k, v in memory.items()},
        "memory_note": "GPU: allocator peak; CPU: resident-set growth over the process baseline during the epoch",
    }
    out["speedup"] = out["seconds"]["trainer"]["median"] / out["seconds"]["xlgen"]["median"]
    if args.compile:
        out["compile_speedup_vs_eager"] = out["seconds"]["xlgen"]["median"] / out["seconds"]["xlgen+compile"]["median"]
        out["compile_warmup_epoch_s"] = compile_s
    path = write_result(args.out or f"train_{args.model.replace('/', '_').replace(' ', '_')}", out, args.results_dir)
    print(f"xlgen {out['target_tokens_per_s']['xlgen']['median']:.1f} vs Trainer {out['target_tokens_per_s']['trainer']['median']:.1f} target tokens/s: {out['speedup']:.2f}x -> {path}")
    del torch


if __name__ == "__main__":
    main()
