"""A backbone family: how a model of that family turns an example into tensors, a loss and generated text.

Families differ in three ways that matter for cross-lingual generation: encoder-decoder vs decoder-only (where the
loss lives), language codes (mBART/NLLB/M2M100 prepend them and force the target code as the first generated token;
mT5 has none; Marian multi-target models take a `>>xxx<<` token), and the maximum input length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xlgen.config import ModelConfig
from xlgen.registry import Registry
from xlgen.tasks.base import Example, Task


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # empty for generation-only inputs
    # Leading input tokens that depend on the input body only (decoder-only prompts: BOS + paragraph), so examples
    # with the same body (XQuAD's questions about one paragraph) can share their computation in generation.
    shared_prefix: int = 0

    @property
    def cost(self) -> tuple[int, int]:
        return len(self.input_ids), len(self.labels)


def unwrap(model):
    """The transformers model under PEFT wrappers, whose `get_base_model` leads to it."""
    while hasattr(model, "get_base_model") and model is not model.get_base_model():
        model = model.get_base_model()
    return model


class Backbone:
    family: str = ""
    is_encoder_decoder: bool = True

    def __init__(self, model, tokenizer, cfg: ModelConfig, name: str):
        self.model = model
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.name = name
        self.max_input_length = cfg.max_input_length or self.default_max_length()
        self.max_target_length = cfg.max_target_length or self.default_max_length()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_id = tokenizer.eos_token_id

    # -- languages --------------------------------------------------------------------------------------------------
    def check_language(self, lang: str) -> None:
        """Raise before any training if the model cannot be told to use `lang`."""

    def default_max_length(self) -> int:
        return 512

    # -- encoding ---------------------------------------------------------------------------------------------------
    def encode(self, examples: list[Example], task: Task, target_lang: str | None = None, with_target: bool = True) -> list[Encoded]:
        raise NotImplementedError

    def batch_cost(self, costs: list[tuple[int, int]]) -> int:
        """Padded tokens a batch of these examples occupies; the token budget bounds this."""
        return len(costs) * (max(c[0] for c in costs) + max(c[1] for c in costs))

    def collate(self, items: list[Encoded], device) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- training and generation ------------------------------------------------------------------------------------
    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed token cross-entropy over labelled positions and their count (the caller normalizes per step).
        The count stays a tensor: reading it out would synchronize with the GPU and break a compiled graph."""
        raise NotImplementedError

    def generate(self, model, batch: dict[str, torch.Tensor], target_lang: str, max_new_tokens: int, num_beams: int) -> list[list[int]]:
        raise NotImplementedError

    # Families that can compute a prefix shared by several inputs once (see CausalBackbone) override this.
    supports_shared_prefix = False

    def decode(self, ids: list[int]) -> str:
        """Raw text of generated ids up to the first end-of-sequence, special tokens kept (scoring removes them)."""
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            if i == self.pad_id:
                continue
            out.append(i)
        return self.tokenizer.decode(out, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def special_tokens(self) -> list[str]:
        return list(self.tokenizer.all_special_tokens)


FAMILIES = Registry("family", "model.family", attr="family", also_known=("auto",))
register_family = FAMILIES.register


def family_of(config) -> str:
    """The family name for a transformers config: model_type for the encoder-decoders we know, else generic."""
    mt = getattr(config, "model_type", "")
    if mt in ("t5", "mt5", "umt5"):
        return "t5"
    if mt in ("mbart",):
        return "mbart"
    if mt in ("m2m_100", "nllb", "nllb_moe"):
        return "m2m100"
    if mt == "marian":
        return "marian"
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    return "causal"


def get_family(name: str) -> type[Backbone]:
    return FAMILIES.lookup(name)
