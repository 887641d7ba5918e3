"""Freezing the decoder and all embeddings (ZmBART, Maurya et al. 2021): only the encoder trains.

The motivation: the decoder keeps its ability to generate in every pretraining language while the encoder adapts to
the task. Decoder-only models have no encoder, so the closest analogue freezes what generates text (the embeddings,
the output projection and the upper layers) and trains the lower layers, which read the prompt. What to freeze is the
backbone family's knowledge (`frozen_patterns`, xlgen.backbones); `adaptation.freeze.patterns` replaces it.
"""

from __future__ import annotations

import re

from xlgen.adaptation.base import Method, register_method
from xlgen.config import ListOf, typed_config
from xlgen.errors import XlgenError


@typed_config
class FreezeOptions:
    # Regular expressions over parameter names that stay frozen; None = the backbone family's (encoder-decoders: the
    # decoder and all embeddings, as ZmBART; decoder-only: embeddings, output projection and the upper layers).
    patterns: ListOf[str] | None = None
    # Decoder-only, family default: the share of layers (from the top) that stays frozen.
    upper_fraction: float = 0.5


@register_method("freeze")
class FreezeDecoderAndEmbeddings(Method):
    Options = FreezeOptions
    lr_from = "full"  # built on full finetuning: the paper starts it from full finetuning's PLR

    def frozen_patterns(self, model, family: str) -> list[str]:
        from xlgen.backbones import get_family

        if self.opts.patterns is not None:
            return list(self.opts.patterns)
        return get_family(family).frozen_patterns(model, self.opts.upper_fraction)

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
