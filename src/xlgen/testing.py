"""Tiny random-init models of every backbone family xlgen supports, for tests.

Tests must exercise the real tokenizer classes (language-code layout, special ids, decoder start tokens) without the
Hugging Face hub, so every family is rebuilt locally: one SentencePiece model is trained on a few thousand FLORES-200
sentences (13 languages) and converted into each family's tokenizer the way `from_pretrained` converts a hub
checkpoint, then a 2-layer model with that family's real config class is initialised at random and saved as a normal
Hugging Face directory (config.json, generation_config.json, model.safetensors, tokenizer files). How each family's
tokenizer and model are built lives with the family (`tiny_models` on its class, `xlgen.backbones`); this module owns
what they share: the SentencePiece model, the sizes, the cache.

    path = tiny_model("nllb")            # built once per cache dir, then reused (also across processes)
    tok = AutoTokenizer.from_pretrained(path); model = AutoModelForSeq2SeqLM.from_pretrained(path)

What transformers 5 does with each tokenizer class (checked against 5.23):

- T5Tokenizer, MBart50Tokenizer, NllbTokenizer, LlamaTokenizer are single `TokenizersBackend` classes (the *Fast names
  are aliases). Their `__init__` takes vocab/merges lists, not a `.model` path; `Cls.from_pretrained(dir)` on a
  directory holding only the SentencePiece file (`spiece.model`, `sentencepiece.bpe.model`, `tokenizer.model`)
  extracts the pieces with `SentencePieceExtractor` and reorders them with the converter's `convert_from_spm` (mBART-50
  and NLLB: fairseq layout <s>=0 <pad>=1 </s>=2 <unk>=3; T5 appends `<extra_id_99>`..`<extra_id_0>`).
  `save_pretrained` then writes tokenizer.json, which `AutoTokenizer` loads without sentencepiece.
- T5 expects a SentencePiece model with <pad>=0 </s>=1 <unk>=2 and no <s>; we relabel the first three pieces of the
  shared model rather than training a second one.
- NllbTokenizer: the extractor always passes `additional_special_tokens=[]`, which suppresses the default 202
  language codes, so they must be passed as `extra_special_tokens`. Non-legacy layout: `[src_code] X </s>`, labels
  `[tgt_code] X </s>`. `<mask>` lands before the codes (id 4001 here), unlike the hub checkpoint, where it is last.
- MBart50Tokenizer: `[src_code] X </s>`; `tok(text_target=...)` uses `tok.tgt_lang` (falls back to src_lang when
  unset). It leaves `bos_token` unset unless given, so we pass `<s>` (id 0, the config's bos_token_id).
- M2M100Tokenizer and MarianTokenizer are still Python (`PreTrainedTokenizer`) classes over sentencepiece, built
  from vocab.json + .model files. M2M100's constructor fails to register its `__xx__` codes as special tokens (a
  chained `not in` comparison is always false), so `len(tok)` would omit them and `decode(skip_special_tokens=True)`
  would keep them; we pass them as `additional_special_tokens`, which `save_pretrained` records.
  Layout `__src__ X </s>`.
- MarianTokenizer: `>>fra<<` codes are ordinary vocab entries, recognised only at the start of the text and not
  special (decode keeps them, as with opus-mt). Warns "Recommended: pip install sacremoses" when sacremoses is absent.
- ByT5Tokenizer needs no files: 3 specials + 256 bytes + 125 sentinels = 384 ids.
- Decoder start ids: T5 family = pad (0); mBART-50, NLLB, M2M100 = eos (2) followed by the forced target code
  (`generate(..., forced_bos_token_id=code_id)`); Marian = pad (last id). Llama adds <s> only, no </s>.
- T5Config/MT5Config in 5.x force `tie_word_embeddings=True`; a checkpoint whose lm_head differs from the shared
  embedding is loaded untied (with a warning), which is how the mT5/ByT5 models here stay untied like the real ones.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from .config import data_dir
from .errors import XlgenError


def _builders() -> dict:
    """name -> (tokenizer builder, model builder, is decoder-only), from every registered backbone family."""
    from xlgen.backbones import families

    return {name: (*pair, not cls.is_encoder_decoder) for cls in families() for name, pair in cls.tiny_models.items()}


# The tiny models there are: ("t5", "mt5", "byt5", "mbart50", "nllb", "m2m100", "marian", "causal") at present.
FAMILIES = tuple(_builders())
CAUSAL_FAMILIES = tuple(name for name, (*_, causal) in _builders().items() if causal)

# Bump when the files built here change, so stale caches are not reused.
CACHE_VERSION = "3"

# Small enough to train in well under a second; CJK characters alone need ~2,900 pieces at 99.95% coverage, hence
# 4,000 pieces rather than ~2,000.
SPM_SENTENCES_PER_LANGUAGE = 300
SPM_VOCAB_SIZE = 4000
FLORES_LANGUAGES = ("en", "fr", "es", "de", "ru", "zh", "ar", "ko", "ja", "hi", "th", "vi", "ro")
DIMS = {"d_model": 32, "layers": 2, "heads": 4, "ffn": 64}


def flores_path() -> Path:
    """The parallel FLORES-200 sample the shared SentencePiece model is trained on."""
    return data_dir() / "flores200_via_sib200" / "flores200_sib_parallel_13lang.tsv"


def cache_dir() -> Path:
    """Where `tiny_model` keeps built models; keyed by versions so a changed builder never reuses old files."""
    env = os.environ.get("XLGEN_TINY_CACHE")
    if env:
        return Path(env)
    import transformers

    return Path(tempfile.gettempdir()) / f"xlgen-tiny-models-v{CACHE_VERSION}-tf{transformers.__version__}"


def tiny_model(family: str) -> Path:
    """Path of the cached tiny model of `family`, building it on first use.

    Parallel test processes build into private temporary directories and publish with an atomic rename; a process
    that loses the race discards its copy and uses the winner's.
    """
    _check_family(family)
    return cached_build(family, lambda out: build_tiny_model(family, out))


def tiny_qa_config(data_dir: str | Path, family: str = "mt5", *, train_examples: int = 12, eval_examples: int = 2,
                   test_examples: int | None = None, target_length: int = 8, steps: int = 3, **train) -> dict:
    """The run config the tiny study tests build on: `family`'s tiny model on XQuAD (English training examples, dev and
    test in every language the study asks for), a few hundred tokens per step; `train` overrides schedule fields."""
    xquad = str(Path(data_dir) / "xquad" / "xquad.{lang}.json")
    return {
        "model": {"name": str(tiny_model(family)), "max_input_length": 48, "max_target_length": target_length},
        "task": {"name": "qa"},
        "data": {"train": [{"path": xquad, "lang": "en", "max_examples": train_examples}],
                 "dev": {"path": xquad, "max_examples": eval_examples},
                 "test": {"path": xquad, "max_examples": test_examples or eval_examples}},
        "train": {"steps": steps, "warmup_steps": 1, "max_tokens": 300, "eval_every": steps, "save_every": steps, "log_every": steps, **train},
        "generate": {"max_new_tokens": 3},
    }


def cached_build(name: str, build) -> Path:
    """`cache_dir() / name`, built once by `build(directory)`: into a temporary directory renamed into place, so
    concurrent test processes never see half a model (the loser of the race drops its copy)."""
    root = cache_dir()
    final = root / name
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the model from other users of a shared temp dir
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def build_tiny_model(family: str, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random-init model of `family` with its real tokenizer class into `out_dir`; return the path."""
    import torch

    _check_family(family)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer, build_model, _ = _builders()[family]
    with tempfile.TemporaryDirectory(prefix="xlgen-tok-") as scratch:
        tokenizer = build_tokenizer(Path(scratch))
        tokenizer.save_pretrained(str(out))
    torch.manual_seed(seed)
    model = build_model(tokenizer)
    model.generation_config = _generation_config(model.config)
    with _quiet_progress_bars():
        model.save_pretrained(str(out), safe_serialization=True)
    return out


@contextmanager
def _quiet_progress_bars():
    """A "Writing model shards" bar per tiny model would only clutter test output."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise XlgenError(f"unknown tiny model family {family!r}; choose one of {', '.join(FAMILIES)}")


# --- SentencePiece ---------------------------------------------------------------------------------------------------


def _training_sentences() -> list[str]:
    path = flores_path()
    if not path.is_file():
        raise XlgenError(
            f"tiny test models need the FLORES-200 sample {path}; set XLGEN_DATA to the shared data directory"
        )
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = rows[:SPM_SENTENCES_PER_LANGUAGE]
    return [row[lang] for row in rows for lang in FLORES_LANGUAGES if row.get(lang)]


@lru_cache(maxsize=1)
def shared_spm() -> bytes:
    """The one shared SentencePiece model (BPE, <unk>=0 <s>=1 </s>=2), trained once and kept in the cache dir.

    BPE because NLLB and Llama tokenizers are BPE; the Unigram classes (T5, mBART-50) read BPE scores fine.
    Persisted so every process (and every family) sees byte-identical pieces.
    """
    import io

    import sentencepiece as spm

    cached = cache_dir() / "shared-spm.model"
    if cached.is_file():
        return cached.read_bytes()
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_training_sentences()),
        model_writer=buf,
        vocab_size=SPM_VOCAB_SIZE,
        model_type="bpe",
        character_coverage=0.9995,
        byte_fallback=True,
        num_threads=2,
        minloglevel=2,
    )
    data = buf.getvalue()
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, cached)
    return data




def spm_pieces() -> list[str]:
    """Pieces of the shared model after its three specials, for the vocab.json of the Python tokenizers."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=shared_spm())
    return [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())]


def write_file(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)




















# --- shared by the families' builders ---------------------------------------------------------------------------------


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple












def bart_like_kwargs(tokenizer, vocab_size: int, max_positions: int) -> dict:
    d = DIMS
    return dict(
        vocab_size=vocab_size,
        d_model=d["d_model"],
        encoder_layers=d["layers"],
        decoder_layers=d["layers"],
        encoder_attention_heads=d["heads"],
        decoder_attention_heads=d["heads"],
        encoder_ffn_dim=d["ffn"],
        decoder_ffn_dim=d["ffn"],
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        max_position_embeddings=max_positions,
        scale_embedding=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )














def _generation_config(config):
    """Special ids only, written out so generation never depends on defaults derived from config.json."""
    from transformers import GenerationConfig

    keys = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "forced_eos_token_id")
    return GenerationConfig(**{k: getattr(config, k) for k in keys if getattr(config, k, None) is not None})
