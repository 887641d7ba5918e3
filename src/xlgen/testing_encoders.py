"""Tiny random-init encoder models (BERT, XLM-R) with their real tokenizer classes, for tests of the encoder path.

Built like `xlgen.testing` builds the other families, from local text only: a WordPiece vocabulary trained with
`tokenizers` (BertTokenizerFast, cased, CJK characters split as mBERT does) and a SentencePiece unigram model
(XLMRobertaTokenizerFast, fairseq layout <s>=0 <pad>=1 </s>=2 <unk>=3, <mask> last, as xlm-roberta-base), on the
FLORES-200 sample of 13 languages; then a 2-layer `BertForMaskedLM` / `XLMRobertaForMaskedLM` at random, saved as a
normal Hugging Face directory and cached beside the other tiny models.

    path = tiny_encoder("bert")    # or "xlmr"
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.testing import DIMS, _quiet_progress_bars, _training_sentences, cached_build

ENCODERS = ("bert", "xlmr")
VOCAB = 3000


def tiny_encoder(kind: str) -> Path:
    if kind not in ENCODERS:
        raise XlgenError(f"unknown tiny encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
    return cached_build(f"encoder-{kind}", lambda out: build_tiny_encoder(kind, out))


def _bert_tokenizer(scratch: Path):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wp = BertWordPieceTokenizer(lowercase=False, strip_accents=False, handle_chinese_chars=True, clean_text=True)
    wp.train_from_iterator(_training_sentences(), vocab_size=VOCAB, min_frequency=1, limit_alphabet=2500,
                           special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])  # fmt: skip
    # transformers 5's BertTokenizer(Fast) takes the vocabulary itself (not a vocab.txt path)
    return BertTokenizerFast(vocab=wp.get_vocab(), do_lower_case=False, tokenize_chinese_chars=True, strip_accents=False, model_max_length=512)


def _xlmr_tokenizer(scratch: Path):
    import io

    import sentencepiece as spm
    from transformers import XLMRobertaTokenizerFast

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_training_sentences()), model_writer=buf, vocab_size=VOCAB, model_type="unigram",
                                   character_coverage=0.9995, byte_fallback=False, num_threads=2, minloglevel=2)  # fmt: skip
    (scratch / "sentencepiece.bpe.model").write_bytes(buf.getvalue())
    return XLMRobertaTokenizerFast.from_pretrained(str(scratch), model_max_length=512)


def build_tiny_encoder(kind: str, out: str | Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xlgen-enc-tok-") as scratch:
        tok = (_bert_tokenizer if kind == "bert" else _xlmr_tokenizer)(Path(scratch))
        tok.save_pretrained(str(out))
    d = DIMS
    common = dict(vocab_size=len(tok), hidden_size=d["d_model"], num_hidden_layers=d["layers"], num_attention_heads=d["heads"],
                  intermediate_size=d["ffn"], pad_token_id=tok.pad_token_id)  # fmt: skip
    torch.manual_seed(seed)
    if kind == "bert":
        model = BertForMaskedLM(BertConfig(**common, max_position_embeddings=512, type_vocab_size=2))
    else:
        config = XLMRobertaConfig(**common, max_position_embeddings=514, type_vocab_size=1, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = XLMRobertaForMaskedLM(config)
    with _quiet_progress_bars():
        model.save_pretrained(str(out), safe_serialization=True)
    return out
