"""Language guards: decoding-time remedies for generation in the wrong language, no retraining needed.

`generate.guard` lists them (`[span, script]`, or `span+script` on the command line); they compose in a fixed order
whatever the order given: additive priors, then masks, then the reranker.

| guard | what it does | module |
|---|---|---|
| `span` | extractive tasks: the output must be a span of the input (constrained decoding) | `span.py` |
| `script` | masks tokens with characters outside the target language's scripts (Unicode + CLDR) | `script.py` |
| `prior` | adds λ · log(p_target / p_source) per token, frequencies from raw text in the shared data | `prior.py` |
| `rerank` | K candidates per input, the best by model log-probability + w · log P_LID(target) | `rerank.py` |

Each guard is a `transformers.LogitsProcessor` (the reranker also chooses among candidates after generation), so it
works with any `model.generate`; `xlgen.evaluate.generate_ids` hands them to each batch. Tables (script masks, priors, the
vocabulary's texts) are computed once per tokenizer and language. Masking guards also say which tokens they could ever
allow for a batch, and the output layer then computes only those (`head.py`): under `span` a step projects onto the
paragraph's few thousand tokens instead of the whole vocabulary, which pays for the reranker's extra candidates.
"""

from __future__ import annotations

from transformers import LogitsProcessorList

from xlgen.config import GenerateConfig
from xlgen.errors import XlgenError
from xlgen.guards import prior, rerank, script, span  # noqa: F401  (registration)
from xlgen.guards.base import GUARDS, Guard, GuardContext
from xlgen.guards.vocab import vocab_of


def guard_names(spec: list[str] | str) -> list[str]:
    """Guard names from config or command line: a list, "span+script" or "span,script"; "none" or empty: no guard."""
    items = [spec] if isinstance(spec, str) else list(spec)
    names = []
    for item in items:
        for name in str(item).replace(",", "+").split("+"):
            name = name.strip()
            if name and name != "none" and name not in names:
                GUARDS.lookup(name)
                names.append(name)
    return names


def guard_label(spec: list[str] | str) -> str:
    return "+".join(guard_names(spec)) or "none"


class GuardSet:
    """The guards of one (model, target language), built once; `for_batch` gives each generation batch its
    processors and, after generation, picks one output per input when the reranker made several."""

    def __init__(self, guards: list[Guard], rerank_when: str | None = None):
        self.guards = sorted(guards, key=lambda g: g.stage)
        self.copies = max((g.copies for g in self.guards), default=1)
        reranker = next((g for g in self.guards if isinstance(g, rerank.RerankGuard)), None)
        self.rerank_when = rerank_when or (reranker.when if reranker else "always")

    def plain_pass(self) -> GuardSet | None:
        """The guards but the reranker (None when it is the only one): the first pass of `rerank_when: wrong`."""
        rest = [g for g in self.guards if not isinstance(g, rerank.RerankGuard)]
        return GuardSet(rest) if rest else None

    def candidate_pass(self) -> GuardSet:
        """Every guard, candidates for every input: the second pass of `rerank_when: wrong`."""
        return GuardSet(self.guards, rerank_when="always")

    def for_batch(self, examples: list, num_beams: int = 1) -> "BatchGuards":
        rows_per_example = self.copies * num_beams
        return BatchGuards(self, [g.processor(examples, rows_per_example) for g in self.guards], self.vocabulary(examples))

    def vocabulary(self, examples: list):
        """The tokens every guard could allow for these inputs (None: any), end-of-sequence always among them."""
        allowed = None
        for g in self.guards:
            v = g.vocabulary(examples)
            if v is not None:
                allowed = v.clone() if allowed is None else allowed & v
        if allowed is not None:
            allowed[self.guards[0].ctx.eos_id] = True
        return allowed


class BatchGuards:
    def __init__(self, guard_set: GuardSet, processors: list, vocabulary=None):
        self.set = guard_set
        self.logits_processor = LogitsProcessorList(processors)
        self.vocabulary = vocabulary
        if vocabulary is not None:
            columns = vocabulary.nonzero().flatten()
            for p in processors:
                if isinstance(p, rerank.BranchAndScore):
                    p.columns = columns

    def select(self, rows: list[list[int]], to_text) -> list[list[int]]:
        """One output per input from `copies` adjacent candidate rows each (as generated when there is no reranker)."""
        k = self.set.copies
        if k == 1:
            return rows
        reranker = next(g for g in self.set.guards if isinstance(g, rerank.RerankGuard))
        scorer = next(p for p in self.logits_processor if isinstance(p, rerank.BranchAndScore))
        mean_logp = scorer.mean_logp()
        out = []
        for i in range(0, len(rows), k):
            texts = [to_text(r) for r in rows[i : i + k]]
            out.append(rows[i + reranker.choose(texts, mean_logp[i : i + k])])
        return out


def _check_beams(gen: GenerateConfig, names: list[str]) -> None:
    if "rerank" in names and gen.num_beams != 1:
        raise XlgenError("generate.guard rerank makes its own candidates: use it with generate.num_beams=1")


def check_guards(gen: GenerateConfig, task, target_langs) -> None:
    """Every error the configured guards would raise for these target languages that needs no model: called before a
    run loads or trains anything, because the guards themselves are built only at its first evaluation."""
    names = guard_names(gen.guard)
    _check_beams(gen, names)
    for name in names:
        for lang in target_langs:
            GUARDS.lookup(name).check(gen.guard_options, task, lang)


def build_guards(gen: GenerateConfig, backbone, task, target_lang: str) -> GuardSet | None:
    """The configured guards for one target language, or None when `generate.guard` is empty."""
    names = guard_names(gen.guard)
    if not names:
        return None
    _check_beams(gen, names)
    tok = backbone.tokenizer
    kwargs = backbone.generation_kwargs(target_lang) if hasattr(backbone, "generation_kwargs") else {}
    ctx = GuardContext(
        tokenizer=tok,
        vocab=vocab_of(tok),
        task=task,
        target_lang=target_lang,
        options=gen.guard_options,
        eos_id=backbone.eos_id,
        pad_id=backbone.pad_id,
        n_forced=1 if kwargs.get("forced_bos_token_id") is not None else 0,
    )
    return GuardSet([GUARDS.lookup(n)(ctx) for n in names])


__all__ = ["GUARDS", "GuardSet", "build_guards", "check_guards", "guard_label", "guard_names"]
