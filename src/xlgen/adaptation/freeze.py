"""Freezing the decoder and all embeddings (ZmBART, Maurya et al. 2021): only the encoder trains.

The motivation: the decoder keeps its ability to generate in every pretraining language while the encoder adapts to
the task. Decoder-only models have no encoder, so the closest analogue freezes what generates text — the embeddings,
the output projection and the upper layers (the top `freeze_upper_fraction` of the stack, half by default) — and
trains the lower layers, which read the prompt. Both sets are regular expressions over parameter names and can be
replaced with `adaptation.freeze_patterns`.
"""

from __future__ import annotations

import re

from xlgen.adaptation.base import Method, register_method
from xlgen.errors import XlgenError

ENCODER_DECODER_FROZEN = [
    r"(^|\.)decoder\.",  # the whole decoder, its embeddings and norms included
    r"(^|\.)shared\.",  # the shared input embedding (T5, mBART, M2M100)
    r"embed",  # encoder token/position embeddings and their layer norm (mBART's layernorm_embedding)
    r"(^|\.)lm_head\.",
    r"final_logits_bias",
]


def _layer_count(model) -> int:
    n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    if not n:
        raise XlgenError("freeze: cannot tell how many layers the model has; set adaptation.freeze_patterns")
    return int(n)


def decoder_only_frozen(model, upper_fraction: float) -> list[str]:
    n = _layer_count(model)
    first_frozen = n - round(n * upper_fraction)
    upper = "|".join(str(i) for i in range(first_frozen, n))
    patterns = [r"embed", r"(^|\.)lm_head\.", r"(^|\.)wte\.", r"(^|\.)(norm|ln_f|final_layernorm)\."]
    if upper:
        patterns.append(rf"(^|\.)(layers|h|blocks)\.({upper})\.")
    return patterns


@register_method("freeze")
class FreezeDecoderAndEmbeddings(Method):
    def frozen_patterns(self, model, family: str) -> list[str]:
        if self.cfg.freeze_patterns is not None:
            return list(self.cfg.freeze_patterns)
        if getattr(model.config, "is_encoder_decoder", False):
            return ENCODER_DECODER_FROZEN
        return decoder_only_frozen(model, self.cfg.freeze_upper_fraction)

    def apply(self, model, family: str):
        patterns = [re.compile(p) for p in self.frozen_patterns(model, family)]
        trainable = 0
        for name, p in model.named_parameters():
            frozen = any(rx.search(name) for rx in patterns)
            p.requires_grad_(not frozen)
            trainable += 0 if frozen else 1
        if trainable == 0:
            raise XlgenError("freeze: the patterns freeze every parameter; nothing would train")
        return model
