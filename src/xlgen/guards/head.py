"""The output layer computed for the tokens the guards can allow, not the whole vocabulary.

On a 262k-vocabulary model the output projection is the largest matrix product of every decoding step (Gemma-3-270M:
170M of its 270M parameters), and under the span guard all but the few thousand tokens found in the batch's paragraphs
are masked to -inf anyway. Computing only the allowed columns leaves every guarded distribution as it was (up to the
summation order of the smaller matrix product) and makes guarded decoding cheaper than plain decoding instead of
dearer. Written here because generate's logits processors only see the logits after the full projection.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from xlgen.backbones.base import unwrap

# Restrict only when it removes at least half the columns: below that, the scatter into a full-width row costs about
# what the skipped columns would.
MIN_SAVING = 2.0


class SubsetHead(torch.nn.Module):
    """A linear output layer that computes the columns `ids` and gives every other column -inf, at the full width the
    model's own code expects (mBART adds a full-width bias after it, Gemma may soft-cap it)."""

    def __init__(self, head: torch.nn.Linear, ids: torch.Tensor):
        super().__init__()
        self.out_features = head.out_features
        self.ids = ids
        self.part = head.weight.detach()[ids]
        self.part_bias = head.bias.detach()[ids] if head.bias is not None else None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        part = torch.nn.functional.linear(hidden, self.part, self.part_bias)
        out = part.new_full((*part.shape[:-1], self.out_features), float("-inf"))
        return out.index_copy_(-1, self.ids, part)


@contextmanager
def restricted_head(model, allowed: torch.Tensor | None):
    """Within the block, `model` computes logits only where `allowed` (a bool vector over the vocabulary) is True.
    Does nothing where the guards allow any token, where the saving is small, or where the output layer is not a plain
    `nn.Linear` (a LoRA-adapted head, one placed on devices by accelerate's hooks)."""
    base = unwrap(model)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if allowed is None or type(head) is not torch.nn.Linear or hasattr(head, "_hf_hook"):
        yield
        return
    ids = allowed[: head.out_features].nonzero().flatten()
    if len(ids) * MIN_SAVING > head.out_features:
        yield
        return
    base.set_output_embeddings(SubsetHead(head, ids.to(head.weight.device)))
    try:
        yield
    finally:
        base.set_output_embeddings(head)
