"""Translation with Hugging Face models: tiny random-init NLLB-200, M2M100, mBART-50, Marian and decoder-only models
with their real tokenizer classes. Their outputs are noise; what is tested is the plumbing: language codes, batching
order, the cache (a rerun translates nothing), resuming after an interruption, and the QA bookkeeping."""

import json
from pathlib import Path

import pytest

from xlgen.errors import XlgenError
from xlgen.testing import tiny_model
from xlgen.translate import make_translator
from xlgen.translate.cache import TranslationCache
from xlgen.translate.dataset import translate_dataset

SENTENCES = ["Hello world.", "The cat sat on the mat, and then it slept for a long while.", "Hello world.", "Why?"]


@pytest.fixture(scope="module")
def nllb():
    # Random weights never end a sentence: a short generation limit keeps the tests fast.
    return make_translator(f"hf:{tiny_model('nllb')}", device="cpu", max_length_ratio=0.5)


@pytest.mark.parametrize("family", ["nllb", "m2m100", "mbart50", "marian", "causal"])
def test_every_family_translates_in_input_order(family):
    tr = make_translator(f"hf:{tiny_model(family)}", device="cpu", max_length_ratio=0.5)
    tr.check_languages("en", "de")
    out = tr.translate(SENTENCES, "en", "de")
    assert len(out) == 4 and out[0] == out[2]  # same input, same output, wherever batching put it
    assert all(o is None or (isinstance(o, str) and o.strip()) for o in out)
    for code in ("deu_Latn", "__de__", "de_DE", ">>deu<<"):
        assert all(code not in (o or "") for o in out)  # the forced target code is not part of the translation
    assert str(tiny_model(family)) in tr.fingerprint()


def test_unknown_languages_fail_before_any_work(tmp_path):
    tr = make_translator(f"hf:{tiny_model('marian')}", device="cpu")  # the tiny Marian model has no Korean code
    src = tmp_path / "in.txt"
    src.write_text("Hello.\n", encoding="utf-8")
    with pytest.raises(XlgenError, match="no language code for 'ko'"):
        translate_dataset(src, src="en", tgts=["ko"], translator=tr, out=str(tmp_path / "o"), progress=False)
    assert not (tmp_path / "o").exists()


def test_fingerprint_names_the_settings_and_the_weights(tmp_path):
    from xlgen.testing import build_tiny_model

    a = make_translator(f"hf:{tiny_model('nllb')}", device="cpu")
    b = make_translator(f"hf:{tiny_model('nllb')}", device="cpu", num_beams=2)
    other = build_tiny_model("nllb", tmp_path / "nllb-seed1", seed=1)
    c = make_translator(f"hf:{other}", device="cpu")
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint().replace(str(other), str(tiny_model("nllb")))}) == 3


def _squad(path: Path, n_paragraphs: int = 3) -> Path:
    paras = []
    for i in range(n_paragraphs):
        ctx = f"Paragraph {i} starts here. The Denver Broncos won the game in {1990 + i}. Everyone was happy."
        ans = "Denver Broncos"
        paras.append({"context": ctx, "qas": [
            {"id": f"q{i}a", "question": "Who won the game?", "answers": [{"text": ans, "answer_start": ctx.index(ans)}]},
            {"id": f"q{i}b", "question": f"When did they win in paragraph {i}?", "answers": [{"text": str(1990 + i), "answer_start": ctx.index(str(1990 + i))}]},
        ]})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paras}]}), encoding="utf-8")
    return path


def test_cache_makes_a_rerun_translate_nothing(tmp_path, nllb):
    data = _squad(tmp_path / "train.en.json")
    cache = TranslationCache(tmp_path / "cache.sqlite")
    first = translate_dataset(data, src="en", tgts=["de", "zh"], translator=nllb, out=str(tmp_path / "o"), cache=cache, progress=False)
    for s in first["languages"].values():
        assert s["cached"] == 0 and s["translated"] + s["untranslatable_units"] == s["distinct_units"] > 0
        assert s["records"] == 6 == s["kept"] + sum(s["dropped"].values())
    for lang in ("de", "zh"):  # every kept answer is a real span of its translated paragraph
        doc = json.loads((tmp_path / "o" / f"train.{lang}.json").read_text(encoding="utf-8"))
        for para in doc["data"][0]["paragraphs"]:
            for qa in para["qas"]:
                assert all(para["context"][a["answer_start"] :].startswith(a["text"]) for a in qa["answers"])
    out1 = (tmp_path / "o" / "train.de.json").read_text(encoding="utf-8")
    cache.close()
    again = translate_dataset(data, src="en", tgts=["de", "zh"], translator=nllb, out=str(tmp_path / "o"), cache=TranslationCache(tmp_path / "cache.sqlite"), progress=False)
    for s in again["languages"].values():
        assert s["translated"] == 0 and s["cached"] == first["languages"][s["lang"]]["translated"]
    assert (tmp_path / "o" / "train.de.json").read_text(encoding="utf-8") == out1
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert set(summary["languages"]) == {"de", "zh"} and summary["translator"] == nllb.fingerprint()


class _Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_from_the_cache(tmp_path, nllb):
    data = _squad(tmp_path / "train.json", n_paragraphs=4)

    class Flaky:
        """The real translator, stopped after its first chunk as a killed process would be."""

        cacheable, calls = True, 0

        def __getattr__(self, name):
            return getattr(nllb, name)

        def translate(self, texts, src, tgt):
            Flaky.calls += 1
            if Flaky.calls > 1:
                raise _Interrupted
            return nllb.translate(texts, src, tgt)

    cache_path = tmp_path / "c.sqlite"
    with pytest.raises(_Interrupted):
        translate_dataset(data, src="en", tgts=["de"], translator=Flaky(), out=str(tmp_path / "o"), cache=TranslationCache(cache_path), chunk=3, progress=False)
    assert not (tmp_path / "o" / "train.de.json").exists()  # nothing half-written
    done = len(TranslationCache(cache_path))
    assert done == 3
    resumed = translate_dataset(data, src="en", tgts=["de"], translator=nllb, out=str(tmp_path / "o"), cache=TranslationCache(cache_path), chunk=3, progress=False)
    s = resumed["languages"]["de"]
    assert s["cached"] == 3 and s["cached"] + s["translated"] + s["untranslatable_units"] == s["distinct_units"]
    fresh = translate_dataset(data, src="en", tgts=["de"], translator=nllb, out=str(tmp_path / "fresh"), progress=False)
    assert (tmp_path / "o" / "train.de.json").read_text() == (tmp_path / "fresh" / "train.de.json").read_text()
    assert fresh["languages"]["de"]["translated"] == s["translated"] + 3 - (fresh["languages"]["de"]["untranslatable_units"] - s["untranslatable_units"])


def test_cli_translate_and_its_errors(tmp_path, capsys):
    from xlgen.cli import main

    def xlgen(*args):
        code = main([*map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err

    data = _squad(tmp_path / "d.json", n_paragraphs=1)
    model = tiny_model("m2m100")
    code, out, err = xlgen("translate", data, "--to", "de", "--translator", f"hf:{model}", "--out", tmp_path / "o", "--cache", tmp_path / "c.sqlite", "--device", "cpu", "--no-progress")
    assert code == 0, err
    assert json.loads(out)["outputs"] == {"de": str(tmp_path / "o" / "d.de.json")}
    assert "records" in err and "alignment" in err  # the summary table
    code, _, err = xlgen("translate", tmp_path / "missing.json", "--to", "de", "--translator", "parallel:flores", "--out", tmp_path / "o")
    assert code == 2 and err.strip().count("\n") == 0 and "no such input file" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "x", "qas": [{"question": 3}]}]}]}))
    code, _, err = xlgen("translate", bad, "--to", "de", "--translator", "parallel:flores", "--out", tmp_path / "o")
    assert code == 2 and "data[0].paragraphs[0].qas[0].question" in err and "Traceback" not in err
    code, _, err = xlgen("translate", data, "--to", "xx-nonsense", "--translator", "parallel:flores", "--out", tmp_path / "o")
    assert code == 2 and "unknown language code" in err
