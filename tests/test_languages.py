"""Language tags and model language codes, checked against the real tokenizer classes of the tiny test models."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from xlgen.errors import XlgenError
from xlgen.languages import (
    language_name,
    model_language_codes,
    normalize_language,
    resolve_model_language_code,
    same_language,
    tokenizer_lang_value,
)
from xlgen.testing import flores_path, tiny_model

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

LANGS = ("en", "de", "es", "ru", "zh", "ar", "hi", "th", "vi", "ja", "ko", "ro")
EXPECTED = {
    "mbart50": dict(
        en="en_XX", de="de_DE", es="es_XX", ru="ru_RU", zh="zh_CN", ar="ar_AR",
        hi="hi_IN", th="th_TH", vi="vi_VN", ja="ja_XX", ko="ko_KR", ro="ro_RO",
    ),
    "nllb": dict(
        en="eng_Latn", de="deu_Latn", es="spa_Latn", ru="rus_Cyrl", zh="zho_Hans", ar="arb_Arab",
        hi="hin_Deva", th="tha_Thai", vi="vie_Latn", ja="jpn_Jpan", ko="kor_Hang", ro="ron_Latn",
    ),
    "m2m100": {lang: f"__{lang}__" for lang in LANGS},
    "marian": dict(
        en=">>eng<<", de=">>deu<<", es=">>spa<<", ru=">>rus<<", zh=">>zho<<", ar=">>ara<<",
        hi=">>hin<<", th=">>tha<<", vi=">>vie<<", ja=">>jpn<<", ro=">>ron<<",
    ),  # opus-mt-mul style, without Korean
}  # fmt: skip

_tokenizers = {}


def tokenizer(family):
    if family not in _tokenizers:
        if family != "byt5" and not flores_path().is_file():
            pytest.skip(f"shared data not found at {flores_path()} (set XLGEN_DATA)")
        _tokenizers[family] = AutoTokenizer.from_pretrained(tiny_model(family))
    return _tokenizers[family]


@pytest.mark.parametrize("family", sorted(EXPECTED))
@pytest.mark.parametrize("lang", LANGS)
def test_resolution(family, lang):
    tok = tokenizer(family)
    expected = EXPECTED[family].get(lang)
    if expected is None:
        with pytest.raises(XlgenError, match=f"model opus-mt-tiny has no language code for '{lang}'"):
            resolve_model_language_code(lang, tok, model_name="opus-mt-tiny")
    else:
        code = resolve_model_language_code(lang, tok)
        assert code == expected
        assert tok.convert_tokens_to_ids(code) != tok.unk_token_id


def test_variants_find_their_code():
    nllb = tokenizer("nllb")
    assert resolve_model_language_code("zh-Hant", nllb) == "zho_Hant"
    assert resolve_model_language_code("zh-TW", nllb) == "zho_Hant"
    assert resolve_model_language_code("cmn", nllb) == "zho_Hans"
    assert resolve_model_language_code("arb", nllb) == "arb_Arab"
    assert resolve_model_language_code("eng", nllb) == "eng_Latn"
    assert resolve_model_language_code("en-GB", tokenizer("mbart50")) == "en_XX"
    assert resolve_model_language_code("pt-BR", tokenizer("m2m100")) == "__pt__"
    assert resolve_model_language_code("zh-Hant", tokenizer("marian")) == ">>cmn_Hant<<"
    # A different script or a merely related language is not a match.
    with pytest.raises(XlgenError, match="no language code for 'zh-Hant'"):
        resolve_model_language_code("zh-Hant", tokenizer("mbart50"))
    with pytest.raises(XlgenError, match="no language code for 'ms'"):
        resolve_model_language_code("ms", tokenizer("mbart50"))


def test_model_language_codes():
    nllb = model_language_codes(tokenizer("nllb"))
    assert len(nllb) == 202
    assert nllb["zho_Hant"] == "zh-Hant" and nllb["zho_Hans"] == "zh" and nllb["arb_Arab"] == "ar"
    assert nllb["ace_Arab"] == "ace-Arab" and nllb["ace_Latn"] == "ace"  # script kept only where it disambiguates
    assert nllb["acm_Arab"] == "acm"
    mbart = model_language_codes(tokenizer("mbart50"))
    assert len(mbart) == 52 and mbart["de_DE"] == "de" and mbart["ar_AR"] == "ar"
    m2m = model_language_codes(tokenizer("m2m100"))
    assert m2m["__de__"] == "de" and len(m2m) >= 99
    marian = model_language_codes(tokenizer("marian"))
    assert marian[">>fra<<"] == "fr" and marian[">>cmn_Hant<<"] == "zh-Hant"
    for family in ("t5", "mt5", "byt5", "causal"):
        assert model_language_codes(tokenizer(family)) == {}


@pytest.mark.parametrize(("family", "value"), [("mbart50", "de_DE"), ("nllb", "deu_Latn"), ("m2m100", "de")])
def test_resolved_code_selects_the_source_language(family, value):
    tok = tokenizer(family)
    code = resolve_model_language_code("de", tok)
    assert tokenizer_lang_value(tok, code) == value
    tok.src_lang = tokenizer_lang_value(tok, code)
    assert tok("Hallo Welt")["input_ids"][0] == tok.convert_tokens_to_ids(code)


def test_models_without_codes_are_refused():
    with pytest.raises(XlgenError, match="does not use language codes"):
        resolve_model_language_code("de", tokenizer("t5"), model_name="t5-tiny")


def test_missing_language_message_is_helpful():
    with pytest.raises(XlgenError) as err:
        resolve_model_language_code("ko", tokenizer("marian"), model_name="opus-mt-en-mul")
    message = str(err.value)
    assert "opus-mt-en-mul" in message and "'ko' (Korean)" in message and "13 languages" in message
    assert "e.g. ar, de, en" in message


def test_normalize_language():
    assert normalize_language("eng") == "en"
    assert normalize_language("zho") == "zh"
    assert normalize_language("EN") == "en"
    assert normalize_language("zh_Hant") == "zh-Hant"
    assert normalize_language("arb") == "ar"
    for bad in ("xx", "", "und", "hello", "12"):
        with pytest.raises(XlgenError, match="unknown language code"):
            normalize_language(bad)
    with pytest.raises(XlgenError, match=r"'xx' in config field data.target_languages"):
        normalize_language("xx", context="config field data.target_languages")


def test_language_name():
    assert language_name("de") == "German"
    assert language_name("zho") == "Chinese"
    assert language_name("zh-Hant") == "Chinese (Traditional)"
    with pytest.raises(XlgenError):
        language_name("xx")


def test_same_language():
    assert same_language("zh", "zh-Hans")
    assert same_language("ar", "arb")
    assert same_language("en-GB", "en")
    assert same_language("no", "nb") and same_language("eng", "eng_Latn")
    assert not same_language("ms", "id")
    assert same_language("zh", "zh-Hant")  # a bare tag does not pin the script
    assert not same_language("zh-Hans", "zh-Hant")
    assert not same_language("zh-TW", "zh-Hans")
    assert not same_language("de", "en")
    assert not same_language(None, "en")
    assert not same_language("xx", "en")
