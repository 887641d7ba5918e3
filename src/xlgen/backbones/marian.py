"""Marian (opus-mt): multi-target models take a `>>xxx<<` target token at the start of the source; bilingual ones take
nothing. The codes are ordinary vocabulary entries, not special tokens."""

from __future__ import annotations

import json
import re
from pathlib import Path

from xlgen import languages
from xlgen.backbones.base import register_family
from xlgen.backbones.seq2seq import CodedSeq2SeqBackbone, Seq2SeqBackbone

# opus-mt-*-mul style target codes for the FLORES languages but Korean, so tests can ask for a language it lacks.
TINY_TARGET_CODES = ("eng", "fra", "deu", "spa", "rus", "zho", "cmn_Hant", "ara", "ron", "vie", "jpn", "hin", "tha")


@register_family("marian")
class MarianBackbone(CodedSeq2SeqBackbone):
    model_types = ("marian",)
    code_patterns = (re.compile(r"^>>(?P<lang>[A-Za-z]{2,3})(?:_(?P<script>[A-Za-z]{4}))?(?:_[A-Za-z]{2})?<<$"),)
    rudiments = (r">>[A-Za-z_]{2,8}<<",)  # >>fra<<, >>zho_Hans<<

    def default_max_length(self) -> int:
        return 512

    def has_codes(self) -> bool:
        return bool(languages.model_language_codes(self.tokenizer, self.code_patterns))

    def check_language(self, lang: str) -> None:
        if self.has_codes():
            self.code(lang)

    def code(self, lang: str) -> str | None:
        return super().code(lang) if self.has_codes() else None

    def _specials(self, lang, side):  # Marian tokenizers have no src_lang/tgt_lang
        return Seq2SeqBackbone._specials(self, None, side)

    def source_prefix(self, target_lang: str) -> tuple[int, ...]:
        code = self.code(target_lang)
        return (self.tokenizer.convert_tokens_to_ids(code),) if code else ()

    def generation_kwargs(self, target_lang: str) -> dict:
        return {}


# -- tiny test models (xlgen.testing) ---------------------------------------------------------------------------------


def _marian_tokenizer(scratch: Path):
    import warnings

    from transformers import MarianTokenizer

    from xlgen.testing import shared_spm, spm_pieces, write_file

    # opus-mt layout: </s>=0, <unk>=1, target-language codes, pieces, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for code in TINY_TARGET_CODES:
        vocab[f">>{code}<<"] = len(vocab)
    for piece in spm_pieces():
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)
    (scratch / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        return MarianTokenizer(
            source_spm=write_file(scratch / "source.spm", shared_spm()),
            target_spm=write_file(scratch / "target.spm", shared_spm()),
            vocab=str(scratch / "vocab.json"),
            source_lang="eng",
            target_lang="mul",
            model_max_length=512,
        )


def _marian_model(tokenizer):
    from transformers import MarianConfig, MarianMTModel

    from xlgen.testing import bart_like_kwargs

    config = MarianConfig(
        **bart_like_kwargs(tokenizer, len(tokenizer), 512),
        decoder_vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
        activation_function="swish",
    )
    return MarianMTModel(config)


MarianBackbone.tiny_models = {"marian": (_marian_tokenizer, _marian_model)}
