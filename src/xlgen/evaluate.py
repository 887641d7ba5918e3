"""Generate for a set of examples in a target language and score the outputs: task metric, language-correct rate,
average length. This is the path a researcher reads to know what a number in `metrics.jsonl` means."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from xlgen.backbones import Backbone
from xlgen.batching import token_budget_batches
from xlgen.config import GenerateConfig
from xlgen.guards import GuardSet, build_guards
from xlgen.guards.head import restricted_head
from xlgen.io import append_jsonl, atomic_write_jsonl
from xlgen.languages import same_language
from xlgen.metrics import remove_rudiments
from xlgen.metrics.langid import detect_languages
from xlgen.perf.precision import WorkingWeights
from xlgen.runtime import RunContext
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
    """Greedy (or beam) generation, batched by sorted input length with a token budget; outputs in input order.
    Decoder-only inputs that share their body (the questions about one paragraph) share its computation; language
    guards (`gen.guard`, xlgen.guards) constrain or rerank what is generated."""
    max_new = gen.max_new_tokens or task.default_max_new_tokens
    # Decoder-only prompts leave room for the new tokens within the position limit; encoder-decoders crop on their own.
    extra = {"reserve": max_new} if not backbone.is_encoder_decoder else {}
    encoded = backbone.encode(examples, task, target_lang=target_lang, with_target=False, **extra)
    specials = backbone.special_tokens()
    guards = build_guards(gen, backbone, task, target_lang)
    out = []
    for ids in generate_ids(backbone, model, encoded, target_lang, gen, max_new, device=device, precision=precision, desc=desc, progress=progress,
                            guards=guards, examples=examples):
        raw = backbone.decode(ids)
        out.append(Generation(raw=raw, prediction=remove_rudiments(raw, extra=specials)))
    return out


def generate_ids(backbone: Backbone, model, encoded, target_lang: str, gen: GenerateConfig, max_new: int, *, device="cpu", precision: str = "fp32",
                 desc: str = "generate", progress: bool = True, guards: GuardSet | None = None, examples: list[Example] | None = None) -> list[list[int]]:
    """The generated token ids of encoded inputs, in input order (the part of `generate` that runs the model).
    Language guards (`guards`, built for `examples`, the inputs of `encoded`) act as logits processors; a reranker
    generates `copies` candidates per input and keeps one."""
    kwargs = {"device": device, "precision": precision, "desc": desc, "progress": progress}
    if guards and guards.copies > 1 and guards.rerank_when == "wrong":
        # Candidates only for the inputs plain (guarded) decoding answered in another language (xlgen.guards.rerank).
        out = generate_ids(backbone, model, encoded, target_lang, gen, max_new, guards=guards.plain_pass(), examples=examples, **kwargs)
        specials = backbone.special_tokens()
        detected = detect_languages([remove_rudiments(backbone.decode(ids), extra=specials) for ids in out])
        wrong = [i for i, d in enumerate(detected) if not same_language(d, target_lang)]
        if wrong:
            again = generate_ids(backbone, model, [encoded[i] for i in wrong], target_lang, gen, max_new, guards=guards.candidate_pass(),
                                 examples=[examples[i] for i in wrong], **kwargs)
            for i, ids in zip(wrong, again):
                out[i] = ids
        return out
    out: list[list[int] | None] = [None] * len(encoded)
    copies = guards.copies if guards else 1
    specials = backbone.special_tokens() if guards else []
    shared = _can_share_prefix(backbone, model, encoded, gen, copies)
    batches = _shared_prefix_batches(encoded, gen, copies) if shared else token_budget_batches(
        [(len(e.input_ids), 0) for e in encoded], gen.max_tokens, batch_cost=lambda c: copies * len(c) * max(x[0] for x in c),
        max_batch_size=max(gen.max_batch_size // copies, 1), descending=True,
    )
    was_training = model.training
    model.eval()
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=precision != "fp32")
    # bf16: decode with bf16 copies of the weights, cast once here (decoding reads every weight at every token: fp32
    # weights cast under autocast would cost three times the memory traffic).
    weights = WorkingWeights(model) if precision == "bf16" else None
    with torch.no_grad(), autocast, (weights.swapped() if weights else nullcontext()):
        for idx in tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False):
            items = [encoded[i] for i in idx]
            batch_guards = guards.for_batch([examples[i] for i in idx], gen.num_beams) if guards else None
            extra = {"logits_processor": batch_guards.logits_processor} if guards else {}
            # Under masking guards the output layer computes only the tokens they could allow (xlgen.guards.head).
            with restricted_head(model, batch_guards.vocabulary if batch_guards else None):
                if shared:
                    rows = backbone.generate_shared(model, items, target_lang, max_new, device, copies=copies, **extra)
                else:
                    items = [it for it in items for _ in range(copies)]
                    rows = backbone.generate(model, backbone.collate(items, device), target_lang, max_new, gen.num_beams, **extra)
            if batch_guards:
                rows = batch_guards.select(rows, lambda ids: remove_rudiments(backbone.decode(ids), extra=specials))
            for i, ids in zip(idx, rows):
                out[i] = ids
    if was_training:
        model.train()
    return out  # type: ignore[return-value]


def _can_share_prefix(backbone, model, encoded, gen, copies: int = 1) -> bool:
    """Share prefixes only where it pays (several inputs with one body, or several candidates per input) and is
    exact (greedy, and the model as adapted allows it: see `Backbone.can_share_prefix`)."""
    if gen.num_beams != 1 or not backbone.can_share_prefix(model):
        return False
    if copies > 1:
        return True
    prefixes = [tuple(e.input_ids[: e.shared_prefix]) for e in encoded if e.shared_prefix]
    return len(set(prefixes)) < len(prefixes)


def _shared_prefix_batches(encoded, gen, copies: int = 1) -> list[list[int]]:
    """Whole groups of rows sharing a prefix, packed into batches under the token budget, longest prefixes first.
    Each input becomes `copies` rows (candidates of a reranker)."""
    groups: dict[tuple, list[int]] = {}
    for i, e in enumerate(encoded):
        groups.setdefault(tuple(e.input_ids[: e.shared_prefix]), []).append(i)
    order = sorted(groups.values(), key=lambda rows: -len(encoded[rows[0]].input_ids))
    batches, current, p_len, s_len = [], [], 0, 0
    for rows in order:
        p = encoded[rows[0]].shared_prefix
        s = max(len(encoded[i].input_ids) - encoded[i].shared_prefix for i in rows)
        n = (len(current) + len(rows)) * copies
        if current and (n * (max(p_len, p) + max(s_len, s)) > gen.max_tokens or n > gen.max_batch_size):
            batches.append(current)
            current, p_len, s_len = [], 0, 0
        current = current + rows
        p_len, s_len = max(p_len, p), max(s_len, s)
    if current:
        batches.append(current)
    return batches


def score(task: Task, examples: list[Example], generations: list[Generation], lang: str) -> tuple[dict, list[dict]]:
    """The metrics row (both metric profiles, 95% intervals; see xlgen.metrics.rows) and per-example scores."""
    return task.score_examples([g.prediction for g in generations], [ex.references for ex in examples], lang)


def prediction_rows(examples: list[Example], generations: list[Generation], scores: list[dict] | None = None) -> list[dict]:
    """One row per example; `scores` (per profile, lang_correct 0/100, length) is what paired bootstraps read."""
    rows = [{"id": ex.id, "prediction": g.prediction, "output": g.raw, "references": ex.references} for ex, g in zip(examples, generations)]
    for row, s in zip(rows, scores or []):
        row["scores"] = s
    return rows


def evaluate_language(backbone, model, examples, task, lang, gen, *, device="cpu", precision="fp32", desc=None, progress=True):
    generations = generate(backbone, model, examples, task, lang, gen, device=device, precision=precision, desc=desc or f"eval {lang}", progress=progress)
    metrics, scores = score(task, examples, generations, lang)
    return metrics, prediction_rows(examples, generations, scores)


def evaluate_split(ctx: RunContext, split: str, step: int | None, sets: dict[str, list[Example]], *, log: bool = True,
                   scores: dict | None = None) -> dict[str, dict]:
    """Generate and score every language of a split. With a run directory: predictions go to `predictions/<lang>.jsonl`
    (test) or `predictions/dev-stepN/` (dev), and, with `log`, every language's metrics to `metrics.jsonl` and the
    trackers."""
    results = {}
    for lang, examples in sets.items():
        desc = f"{split} {lang} @{step}" if step is not None else f"eval {lang}"
        metrics, rows = evaluate_language(ctx.backbone, ctx.model, examples, ctx.task, lang, ctx.cfg.generate, device=ctx.device, precision=ctx.precision, desc=desc, progress=ctx.progress)
        results[lang] = metrics
        if scores is not None:
            scores[lang] = [row["scores"] for row in rows]
        if ctx.run_dir is None:
            continue
        atomic_write_jsonl(ctx.run_dir / "predictions" / ("" if split == "test" else f"dev-step{step}") / f"{lang}.jsonl", rows)
        if log:
            append_jsonl(ctx.run_dir / "metrics.jsonl", {"step": step, "split": split, "lang": lang, **metrics})
            if ctx.trackers is not None:
                ctx.trackers.log({f"{split}/{lang}/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}, step)
    return results


def summarize(results: dict[str, dict], metric: str | None = None, scores: dict[str, list[dict]] | None = None) -> dict:
    """Averages over non-English languages: the paper's headline numbers for zero-shot transfer from English, for
    every task measure (both metric profiles) and the diagnostics, with 95% intervals resampling examples within each
    language when per-example scores are given (xlgen.metrics.rows.average_row)."""
    from xlgen.metrics.rows import average_row

    return average_row(results, scores, sources=("en",))
