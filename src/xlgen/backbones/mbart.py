"""mBART-50: [src_code] X </s> -> [tgt_code] Y </s>, codes such as `de_DE` (ISO 639-1 and a region, often a fake one:
`en_XX`), the target code forced as the first generated token; pretrained on denoising."""

from __future__ import annotations

import re
from pathlib import Path

from xlgen.backbones.base import register_family
from xlgen.backbones.seq2seq import CodedSeq2SeqBackbone


@register_family("mbart")
class MBartBackbone(CodedSeq2SeqBackbone):
    model_types = ("mbart",)
    code_patterns = (re.compile(r"^(?P<lang>[a-z]{2})_[A-Z]{2}$"),)  # ar_AR, en_XX: the region is ignored
    rudiments = (r"\b[a-z]{2}_[A-Z]{2}\b",)  # stray codes in outputs: a lowercase pair, "_", an uppercase pair
    pretraining_objective = "denoising"

    def default_max_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 1024))  # the paper crops mBART to 1024


# -- tiny test models (xlgen.testing) ---------------------------------------------------------------------------------


def _mbart50_tokenizer(scratch: Path):
    from transformers import MBart50Tokenizer

    from xlgen.testing import shared_spm, write_file

    write_file(scratch / "sentencepiece.bpe.model", shared_spm())
    return MBart50Tokenizer.from_pretrained(str(scratch), bos_token="<s>", src_lang="en_XX", model_max_length=1024)


def _mbart50_model(tokenizer):
    from transformers import MBartConfig, MBartForConditionalGeneration

    from xlgen.testing import bart_like_kwargs

    config = MBartConfig(
        **bart_like_kwargs(tokenizer, len(tokenizer), 1024),
        bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    return MBartForConditionalGeneration(config)


MBartBackbone.tiny_models = {"mbart50": (_mbart50_tokenizer, _mbart50_model)}
