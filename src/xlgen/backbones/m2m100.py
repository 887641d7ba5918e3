"""NLLB-200 and M2M100 (both M2M100 models in transformers): [src_code] X </s> -> [tgt_code] Y </s> with NLLB codes
(`deu_Latn`: ISO 639-3 and a script) or M2M100 codes (`__de__`), the target code forced as the first generated token;
pretrained on denoising."""

from __future__ import annotations

import json
import re
from pathlib import Path

from xlgen.backbones.base import register_family
from xlgen.backbones.seq2seq import CodedSeq2SeqBackbone


@register_family("m2m100", "nllb")
class M2M100Backbone(CodedSeq2SeqBackbone):
    model_types = ("m2m_100", "nllb", "nllb_moe")
    code_patterns = (
        re.compile(r"^__(?P<lang>[a-z]{2,3})__$"),  # M2M100
        re.compile(r"^(?P<lang>[a-z]{3})_(?P<script>[A-Z][a-z]{3})$"),  # NLLB-200: ISO 639-3 + script
    )
    rudiments = (
        r"\b[a-z]{3}_[A-Z][a-z]{3}\b",  # NLLB-200 codes: eng_Latn, zho_Hans
        # M2M100 / fairseq codes: __en__, __ast__. Not after "." or before "(" so code such as `x.__len__()` survives.
        r"(?<![\w.])__[a-z]{2,3}__(?![\w(])",
    )
    pretraining_objective = "denoising"

    def default_max_length(self) -> int:
        return 512  # NLLB-200's config allows 1024, but it was trained (and the paper crops) on 512


# -- tiny test models (xlgen.testing) ---------------------------------------------------------------------------------


def _nllb_tokenizer(scratch: Path):
    from transformers import NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    from xlgen.testing import shared_spm, write_file

    write_file(scratch / "sentencepiece.bpe.model", shared_spm())
    return NllbTokenizer.from_pretrained(
        str(scratch), extra_special_tokens=list(FAIRSEQ_LANGUAGE_CODES), src_lang="eng_Latn", model_max_length=1024
    )


def _nllb_model(tokenizer):
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    from xlgen.testing import bart_like_kwargs

    config = M2M100Config(
        **bart_like_kwargs(tokenizer, len(tokenizer), 1024),
        bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        tokenizer_class="NllbTokenizer",
    )
    return M2M100ForConditionalGeneration(config)


def _m2m100_tokenizer(scratch: Path):
    from transformers import M2M100Tokenizer
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    from xlgen.testing import shared_spm, spm_pieces, write_file

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}  # fairseq dictionary order
    for piece in spm_pieces():
        vocab.setdefault(piece, len(vocab))
    (scratch / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return M2M100Tokenizer(
        vocab_file=str(scratch / "vocab.json"),
        spm_file=write_file(scratch / "sentencepiece.bpe.model", shared_spm()),
        additional_special_tokens=[f"__{code}__" for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]],
        model_max_length=1024,
    )


def _m2m100_model(tokenizer):
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    from xlgen.testing import bart_like_kwargs

    # m2m100_418M: 128104 tokenizer ids + 8 "madeup words" = 128112 embedding rows.
    extra = getattr(tokenizer, "num_madeup_words", 0)
    config = M2M100Config(
        **bart_like_kwargs(tokenizer, len(tokenizer) + extra, 1024),
        bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    return M2M100ForConditionalGeneration(config)


M2M100Backbone.tiny_models = {"nllb": (_nllb_tokenizer, _nllb_model), "m2m100": (_m2m100_tokenizer, _m2m100_model)}
