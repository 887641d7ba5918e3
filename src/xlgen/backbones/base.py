"""A backbone family: how a model of that family turns an example into tensors, a loss and generated text, and
everything else xlgen needs to know about the family, in one class.

Families differ in ways that matter for cross-lingual generation: encoder-decoder vs decoder-only (where the loss
lives), language codes (mBART/NLLB/M2M100 prepend them and force the target code as the first generated token; mT5
has none; Marian multi-target models take a `>>xxx<<` token), the maximum input length, and the rudiments of
pretraining their outputs carry. The class attributes below are the family's knowledge; generic code (language codes,
output cleanup, adaptation methods, objectives, tiny test models) asks the family instead of keeping tables of its own.
Adding a family is one module that defines a subclass and registers it (see DEVELOPERS.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xlgen.config import ModelConfig
from xlgen.errors import XlgenError
from xlgen.registry import Registry
from xlgen.tasks.base import Example, Task

if TYPE_CHECKING:
    import torch


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


def memoized(method):
    """Cache a backbone method's results on the instance. `functools.lru_cache` on a method keeps every `self` it
    saw alive in a class-wide cache, and with it the model: a study or transfer driver that loads one backbone per
    run then never frees any (1 GB per Gemma-3-270M)."""

    def wrapper(self, *args):
        memo = self.__dict__.setdefault("_memo", {})
        key = (method.__name__, *args)
        if key not in memo:
            memo[key] = method(self, *args)
        return memo[key]

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


def unwrap(model):
    """The transformers model under PEFT wrappers, whose `get_base_model` leads to it."""
    while hasattr(model, "get_base_model") and model is not model.get_base_model():
        model = model.get_base_model()
    return model


def learned_prompt(model) -> bool:
    """Whether `model` prepends learned vectors to its inputs (PEFT prompt learning): the one place that asks PEFT."""
    peft_cfg = getattr(model, "active_peft_config", None)
    return peft_cfg is not None and peft_cfg.is_prompt_learning


def virtual_tokens(model) -> int:
    """How many positions the learned vectors of PEFT prompt learning take in front of a sequence (0 without)."""
    if not learned_prompt(model):
        return 0
    return int(getattr(model.active_peft_config, "num_virtual_tokens", 0) or 0)


# Adapter host modules by sublayer kind, as dotted suffixes of module paths (see xlgen.adaptation.adapters). These
# names cover most transformers architectures; families whose sublayers are named otherwise declare their own.
DEFAULT_ADAPTER_HOSTS = {
    "attn": ("self_attn", "self_attention", "attn"),
    "cross": ("encoder_attn", "crossattention", "cross_attn"),
    "ffn": ("mlp", "feed_forward", "ffn", "block_sparse_moe"),
}


class Backbone:
    family: str = ""
    is_encoder_decoder: bool = True

    # -- what the family knows (class attributes: asked before any model is loaded) ---------------------------------
    # transformers `model_type`s this family claims (`family_of` matches them).
    model_types: tuple[str, ...] = ()
    # Whether it takes the models no family claims by model_type: "encoder-decoder" or "decoder-only" (one family each;
    # not inherited by subclasses).
    claims_other: str | None = None
    # Language-code tokens of its tokenizers: regular expressions with a `lang` group (and an optional `script`).
    code_patterns: tuple[re.Pattern, ...] = ()
    # Pretraining rudiments its models emit (regular expressions), removed from outputs before scoring.
    rudiments: tuple[str, ...] = ()
    # The objective `data.objective.name: pretraining` means for this family (xlgen.objectives).
    pretraining_objective: str = "prefix_lm"
    # LoRA target module names to try, in order, when PEFT has no default for the model type.
    lora_target_candidates: tuple[tuple[str, ...], ...] = ()
    # Tiny random-init test models of this family: name -> function(scratch dir) -> (tokenizer, model); see
    # xlgen.testing, which owns the shared SentencePiece model and the cache.
    tiny_models: dict[str, Callable] = {}

    @classmethod
    def auto_class(cls):
        """The transformers Auto class that loads this family's models."""
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM if cls.is_encoder_decoder else AutoModelForCausalLM

    @classmethod
    def adapter_hosts(cls, model) -> dict[str, tuple[str, ...]]:
        """Module-path suffixes of the sublayers bottleneck adapters follow, by kind ("attn", "cross", "ffn")."""
        return DEFAULT_ADAPTER_HOSTS

    @classmethod
    def frozen_patterns(cls, model, upper_fraction: float) -> list[str]:
        """Regular expressions over parameter names that `adaptation.method: freeze` keeps frozen."""
        raise NotImplementedError

    # -- a loaded model ---------------------------------------------------------------------------------------------
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

    def prepare(self, task: Task) -> None:
        """Add what the model needs for `task` before adaptation (an encoder's classification head); most need nothing."""

    # -- how long a sequence may be ---------------------------------------------------------------------------------
    def position_limit(self) -> int | None:
        """Positions one sequence may take: the model's position table (`max_position_embeddings`). Learned absolute
        positions (mBART, Marian, GPT-2) fail past it with an IndexError; sinusoidal and rotary ones run on but were
        never trained there. None when positions are relative and unbounded (T5)."""
        limit = getattr(unwrap(self.model).config, "max_position_embeddings", None)
        return int(limit) if limit else None

    def room(self) -> int | None:
        """Positions left for tokens once the learned prompt of the model as adapted (prompt tuning: 100 vectors) is
        in front of them; None without a limit. Every crop of this family goes by it, so prompt + input always fit."""
        limit = self.position_limit()
        if limit is None:
            return None
        virtual = virtual_tokens(self.model)
        if virtual >= limit:
            raise XlgenError(f"adaptation: {virtual} learned prompt vectors leave no room for input in the {limit} positions of model {self.name}")
        return limit - virtual

    # -- encoding ---------------------------------------------------------------------------------------------------
    def encode(self, examples: list[Example], task: Task, target_lang: str | None = None, with_target: bool = True) -> list[Encoded]:
        raise NotImplementedError

    def batch_cost(self, costs: list[tuple[int, int]]) -> int:
        """Padded tokens a batch of these examples occupies; the token budget bounds this."""
        return len(costs) * (max(c[0] for c in costs) + max(c[1] for c in costs))

    def collate(self, items: list[Encoded], device, shape=None) -> dict[str, torch.Tensor]:
        """Padded tensors of `items`; `shape` (xlgen.perf.buckets.BatchShape) pads further, to a shape bucket."""
        raise NotImplementedError

    # -- training and generation ------------------------------------------------------------------------------------
    def loss(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed token cross-entropy over labelled positions and their count (the caller normalizes per step).
        The count stays a tensor: reading it out would synchronize with the GPU and break a compiled graph."""
        raise NotImplementedError

    def generate(self, model, batch: dict[str, torch.Tensor], target_lang: str, max_new_tokens: int, num_beams: int, logits_processor=None) -> list[list[int]]:
        """Generated ids per row; `logits_processor` (a transformers LogitsProcessorList: language guards) is passed on."""
        raise NotImplementedError

    # Families that can compute a prefix shared by several inputs once (see CausalBackbone) override this.
    supports_shared_prefix = False

    def can_share_prefix(self, model) -> bool:
        """Whether `generate_shared` is exact for `model` as adapted: not under a learned prompt, which the shared
        prefill would leave out."""
        return self.supports_shared_prefix and not learned_prompt(model)

    # SDPA kernels this family prefers, in order (xlgen.perf.attention); empty: torch's own choice.
    attention_backends: tuple[str, ...] = ()

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


def families() -> list[type[Backbone]]:
    """Every registered family class once, in registration order."""
    return list(dict.fromkeys(FAMILIES.values()))


def family_of(config) -> str:
    """The family for a transformers config: the one claiming its model_type, else the encoder-decoder or decoder-only
    family that takes the others."""
    model_type = getattr(config, "model_type", "")
    for cls in families():
        if model_type in cls.model_types:
            return cls.family
    other = "encoder-decoder" if getattr(config, "is_encoder_decoder", False) else "decoder-only"
    return next(cls.family for cls in families() if cls.__dict__.get("claims_other") == other)


def get_family(name: str) -> type[Backbone]:
    return FAMILIES.lookup(name)


def all_code_patterns() -> tuple[re.Pattern, ...]:
    """Every family's language-code token shapes, for code that has a tokenizer but no family (vocabulary trimming)."""
    return tuple(p for cls in families() for p in cls.code_patterns)


def all_rudiments() -> tuple[str, ...]:
    """Every family's rudiment patterns: outputs are cleaned of all of them, whichever model (or system) wrote them."""
    return tuple(dict.fromkeys(r for cls in families() for r in cls.rudiments))
