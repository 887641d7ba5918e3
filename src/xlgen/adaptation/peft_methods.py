"""Methods provided by PEFT: prompt tuning (Vu et al. 2022, as in the paper), LoRA, and any PEFT config.

PEFT keeps the trained parameters apart from the base model and saves only them (`adapter_model.safetensors`).
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from xlgen.adaptation.base import Method, register_method
from xlgen.config import AtLeast1, ListOf, typed_config
from xlgen.errors import XlgenError


def _task_type(model) -> str:
    return "SEQ_2_SEQ_LM" if getattr(model.config, "is_encoder_decoder", False) else "CAUSAL_LM"


class PeftMethod(Method):
    def peft_config(self, model, family: str):
        raise NotImplementedError

    def apply(self, model, family: str):
        from peft import get_peft_model

        if getattr(model.config, "is_encoder_decoder", False):
            from xlgen.compat import check_peft_for_encoder_decoder

            check_peft_for_encoder_decoder()
        return get_peft_model(model, self.peft_config(model, family))

    def trained_state(self, model):
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(model)

    def save(self, model, out: Path) -> None:
        model.save_pretrained(str(out))

    def load(self, model, out: Path, family: str):
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(out), is_trainable=False)


@typed_config
class PromptOptions:
    length: AtLeast1 = 100  # learnable vectors prepended to the (encoder) input embeddings


@register_method("prompt")
class PromptTuning(PeftMethod):
    """Learnable vectors prepended to the input embeddings, initialised from randomly chosen vocabulary rows
    (PEFT's SAMPLE_VOCAB: the paper's initialisation), everything else frozen. For encoder-decoders the prompt goes
    on the encoder side only: `num_transformer_submodules=1` (PEFT's seq2seq default of 2 adds a decoder prompt)."""

    Options = PromptOptions

    def peft_config(self, model, family: str):
        from peft import PromptTuningConfig, PromptTuningInit

        return PromptTuningConfig(
            task_type=_task_type(model),
            num_virtual_tokens=self.opts.length,
            prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB,
            num_transformer_submodules=1,
        )


def lora_targets(model, family: str) -> list[str]:
    """PEFT's default LoRA targets for the model type, else the first of the backbone family's candidates the model
    has (mBART, M2M100/NLLB and Marian are missing from PEFT's table; their attention projections are `q_proj`,
    `v_proj`, as BART's)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as known

    from xlgen.backbones import get_family

    if model.config.model_type in known:
        return list(known[model.config.model_type])
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    for candidate in get_family(family).lora_target_candidates:
        if set(candidate) <= names:
            return list(candidate)
    raise XlgenError(f"lora: no default target modules for model type {model.config.model_type!r}; set adaptation.lora.target_modules")


@typed_config
class LoraOptions:
    r: AtLeast1 = 8
    alpha: int = 16
    dropout: float = 0.0
    # None: PEFT's default for the model type, else the backbone family's candidates (`lora_targets`).
    target_modules: ListOf[str] | None = None


@register_method("lora")
class LoRA(PeftMethod):
    Options = LoraOptions

    def peft_config(self, model, family: str):
        from peft import LoraConfig

        return LoraConfig(
            task_type=_task_type(model),
            r=self.opts.r,
            lora_alpha=self.opts.alpha,
            lora_dropout=self.opts.dropout,
            target_modules=self.opts.target_modules or lora_targets(model, family),
        )


@typed_config
class PeftOptions:
    config: dict[str, Any] = field(default_factory=dict)  # passed to peft.get_peft_config


@register_method("peft")
class AnyPeft(PeftMethod):
    """Any PEFT method from a mapping, e.g. `adaptation: {method: peft, peft: {config: {peft_type: IA3, ...}}}`."""

    Options = PeftOptions

    def peft_config(self, model, family: str):
        from peft import get_peft_config

        if not self.opts.config:
            raise XlgenError("adaptation.peft.config: give a PEFT config mapping (with peft_type) for method 'peft'")
        cfg = dict(self.opts.config)
        cfg.setdefault("task_type", _task_type(model))
        try:
            return get_peft_config(cfg)
        except (KeyError, TypeError, ValueError) as e:
            raise XlgenError(f"adaptation.peft.config: {e}") from None
