"""The tiny models in xlgen.testing must behave like the real checkpoints they stand in for: load offline through the
Auto classes, train, generate, and lay out language codes the way each family's real tokenizer does."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from xlgen import testing
from xlgen.errors import XlgenError
from xlgen.testing import CAUSAL_FAMILIES, FAMILIES, build_tiny_model, tiny_model

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

GERMAN = "Am Montag haben Wissenschaftler ein neues Diagnosewerkzeug vorgestellt."
FRENCH = "Lundi, des scientifiques ont présenté un nouvel outil de diagnostic."
# The tokenizer's own source-language code for German, per family (None: the family has no source codes).
GERMAN_CODE = {"mbart50": "de_DE", "nllb": "deu_Latn", "m2m100": "de"}
FRENCH_TOKEN = {"mbart50": "fr_XX", "nllb": "fra_Latn", "m2m100": "__fr__"}
GERMAN_TOKEN = {"mbart50": "de_DE", "nllb": "deu_Latn", "m2m100": "__de__"}

_loaded: dict[str, tuple] = {}


def load(family: str):
    if family not in _loaded:
        if family != "byt5" and not testing.flores_path().is_file():
            pytest.skip(f"shared data not found at {testing.flores_path()} (set XLGEN_DATA)")
        path = tiny_model(family)
        auto = AutoModelForCausalLM if family in CAUSAL_FAMILIES else AutoModelForSeq2SeqLM
        _loaded[family] = AutoTokenizer.from_pretrained(path), auto.from_pretrained(path)
    return _loaded[family]


def german_batch(family: str, tok):
    if family in GERMAN_CODE:
        tok.src_lang = GERMAN_CODE[family]
        tok.tgt_lang = GERMAN_CODE[family]
    if family in CAUSAL_FAMILIES:
        enc = tok([GERMAN], return_tensors="pt")
        enc["labels"] = enc["input_ids"].clone()
        return enc
    return tok([GERMAN], text_target=[GERMAN], return_tensors="pt")


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_and_generates(family):
    tok, model = load(family)
    assert len(tok) <= model.config.vocab_size
    special = [tok.pad_token_id, tok.eos_token_id, tok.bos_token_id, model.generation_config.decoder_start_token_id]
    assert all(i is None or 0 <= i < model.config.vocab_size for i in special)
    assert model.generation_config.pad_token_id == tok.pad_token_id
    assert model.generation_config.eos_token_id == tok.eos_token_id

    batch = german_batch(family, tok)
    ids = batch["input_ids"][0].tolist()
    assert tok.unk_token_id not in ids  # German is covered by the shared vocabulary
    assert len(ids) > 5

    model.train()
    loss = model(**batch).loss
    assert math.isfinite(loss.item())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    model.eval()

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    new_tokens = out.shape[1] - (inputs["input_ids"].shape[1] if family in CAUSAL_FAMILIES else 1)
    assert 1 <= new_tokens <= 5
    assert isinstance(tok.decode(out[0], skip_special_tokens=True), str)


@pytest.mark.parametrize("family", ["mbart50", "nllb", "m2m100"])
def test_language_code_layout(family):
    tok, _ = load(family)
    tok.src_lang = GERMAN_CODE[family]
    tok.tgt_lang = {"mbart50": "fr_XX", "nllb": "fra_Latn", "m2m100": "fr"}[family]
    enc = tok(GERMAN, text_target=FRENCH)
    src = tok.convert_ids_to_tokens(enc["input_ids"])
    tgt = tok.convert_ids_to_tokens(enc["labels"])
    assert src[0] == GERMAN_TOKEN[family] and src[-1] == "</s>"
    assert tgt[0] == FRENCH_TOKEN[family] and tgt[-1] == "</s>"
    assert GERMAN_TOKEN[family] not in src[1:-1]
    # Codes are special tokens, so decoding for output text drops them.
    assert GERMAN_TOKEN[family] not in tok.decode(enc["input_ids"], skip_special_tokens=True)


@pytest.mark.parametrize("family", ["mbart50", "nllb", "m2m100"])
def test_forced_bos_puts_target_code_after_decoder_start(family):
    tok, model = load(family)
    tok.src_lang = GERMAN_CODE[family]
    enc = tok([GERMAN], return_tensors="pt")
    code_id = tok.convert_tokens_to_ids(FRENCH_TOKEN[family])
    with torch.no_grad():
        out = model.generate(**enc, forced_bos_token_id=code_id, max_new_tokens=5, do_sample=False)
    assert out[0, 0].item() == model.config.decoder_start_token_id == tok.eos_token_id
    assert out[0, 1].item() == code_id


def test_special_ids_match_the_real_checkpoints():
    t5_tok, t5 = load("t5")
    assert (t5_tok.pad_token_id, t5_tok.eos_token_id, t5_tok.unk_token_id) == (0, 1, 2)
    assert t5.config.decoder_start_token_id == 0
    assert t5_tok.convert_tokens_to_ids("<extra_id_0>") == len(t5_tok) - 1
    assert t5_tok.convert_tokens_to_ids("<extra_id_99>") == len(t5_tok) - 100
    assert t5.config.vocab_size % 128 == 0

    _, mt5 = load("mt5")
    assert mt5.lm_head.weight.data_ptr() != mt5.shared.weight.data_ptr()  # untied like mT5
    byt5_tok, byt5 = load("byt5")
    assert len(byt5_tok) == byt5.config.vocab_size == 384

    for family in ("mbart50", "nllb", "m2m100"):
        tok, model = load(family)
        assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
        assert model.config.max_position_embeddings == 1024
    # fairseq layout: 4 specials, the SentencePiece pieces after its own 3 specials, 52 codes, <mask> last.
    mbart_tok = load("mbart50")[0]
    assert mbart_tok.convert_tokens_to_ids("ar_AR") == 4 + testing.SPM_VOCAB_SIZE - 3
    assert mbart_tok.mask_token_id == len(mbart_tok) - 1

    marian_tok, marian = load("marian")
    assert marian.config.pad_token_id == marian.config.decoder_start_token_id == len(marian_tok) - 1
    assert marian_tok.eos_token_id == 0
    enc = marian_tok(">>deu<< " + FRENCH)
    assert marian_tok.convert_ids_to_tokens(enc["input_ids"])[0] == ">>deu<<"

    causal_tok, causal = load("causal")
    enc = causal_tok([GERMAN, "Hallo"], padding=True)
    assert enc["input_ids"][0][0] == causal_tok.bos_token_id
    assert enc["input_ids"][1][0] == causal_tok.pad_token_id  # left padding for generation
    assert causal_tok.pad_token_id not in (causal_tok.eos_token_id, causal_tok.bos_token_id)


def test_nllb_and_mbart_know_all_real_codes():
    assert len(load("nllb")[0].extra_special_tokens) >= 202
    assert {"eng_Latn", "zho_Hant", "arb_Arab"} <= set(load("nllb")[0].extra_special_tokens)
    mbart_tok = load("mbart50")[0]
    assert len(mbart_tok.lang_code_to_id) == 52
    m2m_tok = load("m2m100")[0]
    assert len(m2m_tok.lang_code_to_id) == 100
    assert m2m_tok.convert_tokens_to_ids("__zu__") == len(m2m_tok) - 1


def test_cached_model_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XLGEN_TINY_CACHE", str(tmp_path / "cache"))
    # Concurrent builders must agree on one published directory.
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: tiny_model("byt5"), range(3)))
    assert len(set(paths)) == 1
    stamp = (paths[0] / "model.safetensors").stat().st_mtime_ns
    assert tiny_model("byt5") == paths[0]
    assert (paths[0] / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["byt5"]


def test_seed_changes_weights(tmp_path):
    a = AutoModelForSeq2SeqLM.from_pretrained(build_tiny_model("byt5", tmp_path / "a", seed=1))
    b = AutoModelForSeq2SeqLM.from_pretrained(build_tiny_model("byt5", tmp_path / "b", seed=2))
    assert not torch.equal(a.shared.weight, b.shared.weight)


def test_missing_data_and_unknown_family_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(XlgenError, match="unknown tiny model family"):
        tiny_model("gpt2")
    monkeypatch.setenv("XLGEN_DATA", str(tmp_path / "nodata"))
    monkeypatch.setenv("XLGEN_TINY_CACHE", str(tmp_path / "cache"))
    testing.shared_spm.cache_clear()
    try:
        with pytest.raises(XlgenError, match="XLGEN_DATA"):
            build_tiny_model("t5", tmp_path / "t5")
    finally:
        testing.shared_spm.cache_clear()
