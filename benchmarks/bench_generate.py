"""Generation throughput on an XQuAD evaluation pass: xlgen's evaluation against a plain per-example
`model.generate` loop and against the `pipeline` API, greedy decoding, identical outputs required.

    python benchmarks/bench_generate.py --model embedded --lang de --questions 48 --reps 3

All contenders get the same prompts (xlgen's encoding of paragraph + question, and for decoder-only models the prompt
naming the target language) and the same `max_new_tokens`. The per-example loop is what evaluation scripts usually
do; the pipeline is transformers' high-level API at its default batch size. The benchmark fails if xlgen's greedy
outputs differ from the per-example loop's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_dir, device_name, machine, midsize_mt5, summary, timer, write_result  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--lang", default="de")
    ap.add_argument("--questions", type=int, default=0, help="first N questions of the language (0: all 1190)")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-pipeline", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--synthetic", default=None, choices=["mt5-base", "mbart-large", "gemma3-270m"],
                    help="a random-init model of this shape (bench_gpu.py) on synthetic XQuAD-shaped prompts (the GPU machine: no data, no weights)")
    ap.add_argument("--tiny", action="store_true", help="with --synthetic: the scaled-down shape (a smoke run)")
    ap.add_argument("--results-dir", default=None)
    args = ap.parse_args(argv)
    if args.synthetic:
        return synthetic_main(args)

    import torch
    from transformers import pipeline

    from xlgen.backbones import load_backbone
    from xlgen.config import DatasetSpec, GenerateConfig, ModelConfig, TaskConfig
    from xlgen.evaluate import generate
    from xlgen.tasks import get_task

    name = args.model
    if name == "midsize-mt5":
        name = str(midsize_mt5(Path(tempfile.gettempdir()) / "xlgen-bench-midsize-mt5"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    backbone = load_backbone(ModelConfig(name=name), device)
    model, tok = backbone.model, backbone.tokenizer
    model.eval()
    task = get_task(TaskConfig(name="qa"))
    spec = DatasetSpec(path=str(data_dir() / "xquad" / "xquad.{lang}.json"), max_examples=args.questions or None)
    exs = task.load(spec, args.lang)
    gen = GenerateConfig(max_new_tokens=args.max_new_tokens)
    encoded = backbone.encode(exs, task, target_lang=args.lang, with_target=False)
    precision = "bf16" if device == "cuda" else "fp32"

    def run_xlgen():
        return [g.raw for g in generate(backbone, model, exs, task, args.lang, gen, device=device, precision=precision, progress=False)]

    def run_loop():
        outs = []
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            for e in encoded:
                batch = backbone.collate([e], device)
                ids = backbone.generate(model, batch, args.lang, args.max_new_tokens, 1)[0]
                outs.append(backbone.decode(ids))
        return outs

    prompts = [tok.decode(e.input_ids, skip_special_tokens=True) for e in encoded]
    pipe = None
    if not args.no_pipeline:
        kind = "text2text-generation" if backbone.is_encoder_decoder else "text-generation"
        try:
            pipe = pipeline(kind, model=model, tokenizer=tok, device=0 if device == "cuda" else -1)
        except Exception as e:  # the pipeline task may be missing from this transformers version
            print(f"pipeline unavailable: {e}")

    def run_pipeline():
        kwargs = dict(max_new_tokens=args.max_new_tokens, do_sample=False)
        if not backbone.is_encoder_decoder:
            kwargs["return_full_text"] = False
        return [o[0]["generated_text"] for o in pipe(prompts, **kwargs)]

    contenders = {"xlgen": run_xlgen, "generate_loop": run_loop}
    if pipe is not None:
        contenders["pipeline"] = run_pipeline
    times = {k: [] for k in contenders}
    outputs = {}
    for rep in range(args.reps + 1):
        for who, fn in contenders.items():
            with timer() as t:
                outputs[who] = fn()
            if rep > 0:
                times[who].append(t["seconds"])
            print(f"rep {rep} {who}: {t['seconds']:.1f}s", flush=True)
    identical = outputs["xlgen"] == outputs["generate_loop"]
    mismatches = [i for i, (a, b) in enumerate(zip(outputs["xlgen"], outputs["generate_loop"])) if a != b]
    out = {
        "benchmark": "generate",
        "model": args.model,
        "device": device_name(),
        "machine": machine(),
        "precision": precision,
        "lang": args.lang,
        "questions": len(exs),
        "max_new_tokens": args.max_new_tokens,
        "seconds": {k: summary(v) for k, v in times.items()},
        "questions_per_s": {k: summary([len(exs) / s for s in v]) for k, v in times.items()},
        "identical_to_loop": identical,
        "mismatches": [{"i": i, "xlgen": outputs["xlgen"][i], "loop": outputs["generate_loop"][i]} for i in mismatches[:5]],
        "speedup_vs_loop": summary([b / a for a, b in zip(times["xlgen"], times["generate_loop"])])["median"],
    }
    if pipe is not None:
        out["speedup_vs_pipeline"] = summary([b / a for a, b in zip(times["xlgen"], times["pipeline"])])["median"]
        out["pipeline_agrees_with_loop"] = sum(p.strip() == remove(o) for p, o in zip(outputs["pipeline"], outputs["generate_loop"])) / len(exs)
    path = write_result(args.out or f"generate_{args.model.replace('/', '_')}", out, args.results_dir)
    print(f"xlgen {out['questions_per_s']['xlgen']['median']:.2f} q/s, loop {out['questions_per_s']['generate_loop']['median']:.2f} q/s: {out['speedup_vs_loop']:.2f}x; identical={identical} -> {path}")
    if not identical:
        raise SystemExit(f"greedy outputs differ from the per-example loop on {len(mismatches)} of {len(exs)} questions")


def synthetic_main(args) -> None:
    """XQuAD-shaped generation with a random-init model: `--questions` questions, five per paragraph (paragraphs of
    120-260 tokens, questions of 8-16, the prompt's tail), greedy, exactly `--max-new-tokens` new tokens per question
    (a random model rarely stops early; both contenders decode the same lengths). xlgen's evaluation path
    (`xlgen.evaluate.generate_ids`: length-sorted batches, shared paragraphs, bf16 weights on a GPU) against the
    per-example `generate` loop on a bf16 copy of the model (fp32 on a CPU). Random weights make near-ties between
    logits common, so the agreement of the two outputs is reported, not required."""
    import copy
    import random

    import torch

    import bench_gpu
    from xlgen.backbones.base import Encoded
    from xlgen.config import GenerateConfig
    from xlgen.evaluate import generate_ids

    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = bench_gpu.shapes(args.tiny)[args.synthetic]
    backbone = bench_gpu.build(config, device)
    model = backbone.model.eval()
    rng = random.Random(0)
    n = args.questions or 200
    encoded = []
    while len(encoded) < n:
        paragraph = [2] + [rng.randrange(3, config.vocab_size) for _ in range(rng.randint(120, 260))]
        for _ in range(min(5, n - len(encoded))):
            question = [rng.randrange(3, config.vocab_size) for _ in range(rng.randint(8, 16))] + [rng.randrange(3, config.vocab_size) for _ in range(6)]
            shared = len(paragraph) if not backbone.is_encoder_decoder else 0
            encoded.append(Encoded(paragraph + question + ([] if not backbone.is_encoder_decoder else [1]), [], shared_prefix=shared))
    precision = "bf16" if device == "cuda" else "fp32"
    gen = GenerateConfig(max_new_tokens=args.max_new_tokens)
    loop_model = copy.deepcopy(model).to(torch.bfloat16) if precision == "bf16" else model
    model.generation_config.min_new_tokens = loop_model.generation_config.min_new_tokens = args.max_new_tokens

    def run_xlgen():
        return generate_ids(backbone, model, encoded, "en", gen, args.max_new_tokens, device=device, precision=precision, progress=False)

    def run_loop():
        with torch.no_grad():
            return [backbone.generate(loop_model, backbone.collate([e], device), "en", args.max_new_tokens, 1)[0] for e in encoded]

    times = {"xlgen": [], "generate_loop": []}
    outputs = {}
    for rep in range(args.reps + 1):
        for who, fn in (("xlgen", run_xlgen), ("generate_loop", run_loop)):
            with timer() as t:
                outputs[who] = fn()
            if rep > 0:
                times[who].append(t["seconds"])
            print(f"rep {rep} {who}: {t['seconds']:.1f}s", flush=True)
    agree = sum(a == b for a, b in zip(outputs["xlgen"], outputs["generate_loop"])) / n
    out = {
        "benchmark": "generate_synthetic",
        "model": f"{args.synthetic}-shaped random init" + (" [tiny]" if args.tiny else ""),
        "device": device_name(),
        "machine": machine(),
        "precision": precision,
        "questions": n,
        "max_new_tokens": args.max_new_tokens,
        "seconds": {k: summary(v) for k, v in times.items()},
        "questions_per_s": {k: summary([n / s for s in v]) for k, v in times.items()},
        "outputs_agree_with_loop": agree,
        "speedup_vs_loop": summary([b / a for a, b in zip(times["xlgen"], times["generate_loop"])])["median"],
    }
    path = write_result(args.out or f"generate_{args.synthetic}{'_tiny' if args.tiny else ''}_synthetic", out, args.results_dir)
    print(f"xlgen {out['questions_per_s']['xlgen']['median']:.2f} q/s, loop {out['questions_per_s']['generate_loop']['median']:.2f} q/s: "
          f"{out['speedup_vs_loop']:.2f}x; outputs agree on {100 * agree:.0f}% -> {path}")


def remove(text: str) -> str:
    from xlgen.metrics import remove_rudiments

    return remove_rudiments(text)


if __name__ == "__main__":
    main()
