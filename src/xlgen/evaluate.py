"""Generate for a set of examples in a target language and score the outputs: task metric, language-correct rate,
average length. This is the path a researcher reads to know what a number in `metrics.jsonl` means."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from xlgen.backbones import Backbone
from xlgen.batching import token_budget_batches
from xlgen.config import GenerateConfig
from xlgen.metrics import average_length, language_correct_rate, remove_rudiments
from xlgen.tasks import Example, Task


@dataclass
class Generation:
    raw: str  # decoded output, special tokens kept
    prediction: str  # after removing pretraining rudiments; what is scored


def generate(
    backbone: Backbone,
    model,
    examples: list[Example],
    task: Task,
    target_lang: str,
    gen: GenerateConfig,
    *,
    device="cpu",
    precision: str = "fp32",
    desc: str = "generate",
    progress: bool = True,
) -> list[Generation]:
    """Greedy (or beam) generation, batched by sorted input length with a token budget; outputs in input order."""
    encoded = backbone.encode(examples, task, target_lang=target_lang, with_target=False)
    costs = [(len(e.input_ids), 0) for e in encoded]
    batches = token_budget_batches(costs, gen.max_tokens, batch_cost=lambda c: len(c) * max(x[0] for x in c), max_batch_size=gen.max_batch_size, descending=True)
    max_new = gen.max_new_tokens or task.default_max_new_tokens
    specials = backbone.special_tokens()
    out: list[Generation | None] = [None] * len(examples)
    was_training = model.training
    model.eval()
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.no_grad(), autocast:
        for idx in tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False):
            batch = backbone.collate([encoded[i] for i in idx], device)
            rows = backbone.generate(model, batch, target_lang, max_new, gen.num_beams)
            for i, ids in zip(idx, rows):
                raw = backbone.decode(ids)
                out[i] = Generation(raw=raw, prediction=remove_rudiments(raw, extra=specials))
    if was_training:
        model.train()
    return out  # type: ignore[return-value]


def score(task: Task, examples: list[Example], generations: list[Generation], lang: str) -> dict[str, float]:
    predictions = [g.prediction for g in generations]
    metrics = task.score(predictions, [ex.references for ex in examples], lang)
    metrics["lang_correct"] = language_correct_rate(predictions, lang)
    metrics["avg_length"] = average_length(predictions)
    metrics["n"] = len(examples)
    return metrics


def prediction_rows(examples: list[Example], generations: list[Generation]) -> list[dict]:
    return [
        {"id": ex.id, "prediction": g.prediction, "output": g.raw, "references": ex.references}
        for ex, g in zip(examples, generations)
    ]


def evaluate_language(backbone, model, examples, task, lang, gen, *, device="cpu", precision="fp32", desc=None, progress=True):
    generations = generate(backbone, model, examples, task, lang, gen, device=device, precision=precision, desc=desc or f"eval {lang}", progress=progress)
    return score(task, examples, generations, lang), prediction_rows(examples, generations)
