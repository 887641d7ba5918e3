"""The padding shape buckets add, on real data: token-budget batches of English SQuAD training examples, exact
lengths vs bucketed, the number of distinct batch shapes, at the paper's 4,000 tokens and at 16,000.

    python benchmarks/bench_buckets.py                  # the embedded Gemma-3-270M's tokenizer (decoder-only layout)
    python benchmarks/bench_buckets.py --model DIR      # any model directory (an mT5 checkpoint: encoder-decoder layout)

Only the tokenizer is loaded: this counts tokens, it trains nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_dir, write_result  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--examples", type=int, default=4000)
    ap.add_argument("--max-tokens", type=int, nargs="+", default=[4000, 16000])
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import random

    from transformers import AutoConfig, AutoTokenizer

    from xlgen.backbones import get_family
    from xlgen.backbones.base import family_of
    from xlgen.backbones.loading import resolve_model_path
    from xlgen.batching import token_budget_batches
    from xlgen.config import DatasetSpec, ModelConfig, TaskConfig
    from xlgen.perf.buckets import BucketPolicy
    from xlgen.tasks import get_task

    path = resolve_model_path(args.model)
    config = AutoConfig.from_pretrained(path)
    family = get_family(family_of(config))
    shell = type("ModelShell", (), {"config": config})()  # the family needs the config, not the weights
    backbone = family(shell, AutoTokenizer.from_pretrained(path), ModelConfig(name=args.model), args.model)
    task = get_task(TaskConfig(name="qa"))
    exs = task.load(DatasetSpec(path=str(data_dir() / "squad_v1.1_dev_reconstructed" / "squad_v1.1_dev_minus_xquad.json")), "en")
    random.Random(0).shuffle(exs)
    costs = [e.cost for e in backbone.encode(exs[: args.examples], task)]
    rows = []
    for max_tokens in args.max_tokens:
        policy = BucketPolicy(max_tokens=max_tokens, max_source=backbone.max_input_length, max_target=backbone.max_target_length, decoder_only=not backbone.is_encoder_decoder)
        plain = token_budget_batches(costs, max_tokens, seed=0, batch_cost=backbone.batch_cost)
        bucketed = token_budget_batches(costs, max_tokens, seed=0, batch_cost=policy.batch_cost)
        plain_shapes = {(len(b), max(costs[i][0] + (costs[i][1] if not backbone.is_encoder_decoder else 0) for i in b)) for b in plain}
        report = policy.padding([[costs[i] for i in b] for b in bucketed])
        rows.append({"max_tokens": max_tokens, "batches_plain": len(plain), "batches_bucketed": len(bucketed), "shapes_plain": len(plain_shapes), **report})
        print(f"{max_tokens} tokens: padding {100 * report['padding_plain']:.1f}% exact vs {100 * report['padding_bucketed']:.1f}% bucketed; "
              f"{len(plain_shapes)} vs {report['shapes']} shapes; {len(plain)} vs {len(bucketed)} batches", flush=True)
    lines = [f"{len(costs)} English SQuAD training examples, {args.model}'s tokenizer ({'decoder-only' if not backbone.is_encoder_decoder else 'encoder-decoder'} layout), "
             f"buckets of {policy.source_multiple}/{policy.target_multiple} tokens, rows padded to the bucket's capacity.", "",
             "| tokens per batch | padding, exact lengths | padding, bucketed | distinct shapes, exact | distinct shapes, bucketed | batches, exact / bucketed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['max_tokens']} | {100 * r['padding_plain']:.1f}% | {100 * r['padding_bucketed']:.1f}% | {r['shapes_plain']} | {r['shapes']} | {r['batches_plain']} / {r['batches_bucketed']} |")
    out = {"benchmark": "buckets", "model": args.model, "examples": len(costs), "rows": rows, "markdown": "\n".join(lines)}
    print(f"-> {write_result(args.out or 'buckets_' + args.model.replace('/', '_'), out)}")


if __name__ == "__main__":
    main()
