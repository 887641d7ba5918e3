"""What every guard shares: the context it is built from, the registry, and Hugging Face logits-processor bases that
know where the generated part of a row starts and which input a row belongs to.

A guard is built once per (model, target language) and holds its precomputed tables (masks, priors); for each
generation batch it hands `generate` a `transformers.LogitsProcessor`. Processors see every row of the batch: with
`copies` candidates per input (rerank) or beams, the rows of one input are adjacent, so row r belongs to input
r // rows_per_example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

from xlgen.config import GuardOptions
from xlgen.registry import Registry


@dataclass
class GuardContext:
    tokenizer: object
    vocab: object  # xlgen.guards.vocab.Vocab
    task: object
    target_lang: str
    options: GuardOptions
    eos_id: int
    pad_id: int
    # Decoder positions the family fills before the output proper: mBART/NLLB force the target-language code as the
    # first generated token, and no guard may mask it.
    n_forced: int = 0


class Guard:
    name: str = ""
    # Application order, whatever the order the user listed: additive priors (0), then masks (1), then the reranker,
    # which branches on and scores the final distribution (2).
    stage: int = 1
    # Candidates generated per input (only the reranker asks for more than one).
    copies: int = 1

    def __init__(self, ctx: GuardContext):
        self.ctx = ctx

    @classmethod
    def check(cls, options: GuardOptions, task, target_lang: str) -> None:
        """Raise the errors this guard would raise once built, as far as they need no model: a run calls it before
        it loads or trains anything, since guards are built only when it first evaluates (after training)."""

    def processor(self, examples: list, rows_per_example: int) -> LogitsProcessor:
        raise NotImplementedError

    def vocabulary(self, examples: list) -> torch.Tensor | None:
        """Every token this guard could allow at some step for these inputs (a bool vector over the vocabulary), or
        None when it may allow any: the output layer computes only the tokens every guard could allow
        (xlgen.guards.head)."""
        return None


GUARDS = Registry("guard", "generate.guard")
register_guard = GUARDS.register


class GuardProcessor(LogitsProcessor):
    """A logits processor that acts on generated positions only (not on the prompt or a forced language code).

    `rows`: the batch rows the next call's scores belong to, set by a decoder that drops finished rows from what it
    hands the processors (`greedy_decode` in xlgen.backbones.causal); None: every row of the batch, in order."""

    accepts_rows = True

    def __init__(self, ctx: GuardContext):
        self.ctx = ctx
        self.start: int | None = None
        self.rows: torch.Tensor | None = None

    def batch_rows(self, local: list[int]) -> list[int]:
        """The batch rows of local row positions (which input a row belongs to is a property of its batch row)."""
        return local if self.rows is None else self.rows[local].tolist()

    def generated(self, input_ids: torch.LongTensor) -> torch.LongTensor | None:
        """The generated tokens of every row, or None while the family still forces its own tokens. The first call
        comes right after the prompt (decoder-only) or the decoder start token (encoder-decoder)."""
        if self.start is None:
            self.start = input_ids.shape[1] + self.ctx.n_forced
        if input_ids.shape[1] < self.start:
            return None
        return input_ids[:, self.start :]

    def finished(self, gen: torch.LongTensor) -> torch.Tensor:
        """Rows that already emitted end-of-sequence (generate pads them from then on; guards leave them alone)."""
        return (gen == self.ctx.eos_id).any(dim=-1)


def fit(vec: torch.Tensor, width: int, fill) -> torch.Tensor:
    """A per-token vector sized to the model's output width (embedding tables are often padded past the tokenizer)."""
    if vec.shape[-1] == width:
        return vec
    if vec.shape[-1] > width:
        return vec[..., :width]
    pad = torch.full((*vec.shape[:-1], width - vec.shape[-1]), fill, dtype=vec.dtype, device=vec.device)
    return torch.cat([vec, pad], dim=-1)


class MaskProcessor(GuardProcessor):
    """Keeps only the tokens `allowed(gen, rows)` allows on unfinished rows (-inf elsewhere). `allowed` returns the
    token ids allowed on every one of `rows` (a LongTensor) or one LongTensor per row; `rows` are positions in `gen`,
    `batch` the same rows' places in the batch.

    The kept scores are copied into a fresh -inf matrix rather than the rest masked out: a step then makes one pass
    over the (rows, vocabulary) matrix, not the five that building and applying a boolean mask take (they cost more
    than the model's output layer once that is restricted to the allowed tokens, xlgen.guards.head)."""

    def __init__(self, ctx: GuardContext, allowed: Callable[[torch.LongTensor, list[int], list[int]], torch.Tensor | list[torch.Tensor]]):
        super().__init__(ctx)
        self.allowed = allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        gen = self.generated(input_ids)
        if gen is None:
            return scores
        finished = self.finished(gen)
        rows = (~finished).nonzero().flatten().tolist()
        if not rows:
            return scores
        allowed = self.allowed(gen, rows, self.batch_rows(rows))
        width, device = scores.shape[-1], scores.device
        if isinstance(allowed, torch.Tensor):
            cols = allowed[allowed < width].to(device)
            r = torch.tensor(rows, device=device).unsqueeze(1).expand(-1, len(cols))
            c = cols.unsqueeze(0).expand(len(rows), -1)
        else:
            counts = torch.tensor([len(a) for a in allowed], device=device)
            r = torch.tensor(rows, device=device).repeat_interleave(counts)
            c = torch.cat(allowed).to(device) if allowed else torch.zeros(0, dtype=torch.long, device=device)
            keep = c < width
            r, c = r[keep], c[keep]
        out = torch.full_like(scores, float("-inf"))
        out[finished] = scores[finished]
        kept = scores[r, c]
        out[r, c] = kept
        # A row whose every token is masked (guards composed into an empty set) ends instead of emitting garbage.
        alive = torch.zeros(scores.shape[0], dtype=torch.bool, device=device)
        alive[r[torch.isfinite(kept)]] = True
        dead = ~alive & ~finished
        if dead.any():
            out[dead, self.ctx.eos_id] = 0.0
        return out
