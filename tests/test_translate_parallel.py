"""The parallel-corpus translator on the real corpora of the shared data, and answer realignment measured on XQuAD
English -> German against XQuAD's own German answers (benchmarks/realign_xquad.py runs every language)."""

import json

import pytest

from xlgen.errors import XlgenError
from xlgen.io import read_json
from xlgen.translate import make_translator
from xlgen.translate.dataset import translate_dataset
from xlgen.translate.qa_align import reference_agreement


@pytest.fixture(scope="module")
def xquad_tr(data_dir):
    return make_translator("parallel:xquad")


def test_xquad_en_de_answers_realign_to_the_human_spans(data_dir, xquad_tr, tmp_path):
    report = translate_dataset(data_dir / "xquad" / "xquad.en.json", src="en", tgts=["de"], translator=xquad_tr, out=str(tmp_path), progress=False)
    s = report["languages"]["de"]
    assert s["records"] == 1190 and s["kept"] + sum(s["dropped"].values()) == 1190
    assert s["untranslatable_units"] == 0 and s["kept"] / s["records"] >= 0.99  # measured: 1186 / 1190
    agree = reference_agreement(read_json(s["output"]), read_json(data_dir / "xquad" / "xquad.de.json"))
    assert agree["same_span"] / agree["aligned"] >= 0.98  # measured: 99.6%
    corpus = report["corpus"]["en-de"]
    assert 100 <= corpus["paragraphs_sentence_aligned"] < corpus["paragraphs"] == 240  # measured: 142 of 240
    out = read_json(s["output"])
    for para in out["data"][0]["paragraphs"]:
        for qa in para["qas"]:
            for a in qa["answers"]:
                assert para["context"][a["answer_start"] :].startswith(a["text"])


def test_units_are_sentences_where_aligned_else_the_paragraph(data_dir, xquad_tr):
    doc = read_json(data_dir / "xquad" / "xquad.en.json")
    paras = [p["context"] for a in doc["data"] for p in a["paragraphs"]]
    counts = [len(xquad_tr.units(p, "en", "de")) for p in paras]
    assert sum(c > 1 for c in counts) >= 100 and sum(c == 1 for c in counts) >= 50
    assert all(t is not None for p in paras[:20] for t in xquad_tr.translate([u.text for u in xquad_tr.units(p, "en", "de")], "en", "de"))


@pytest.mark.parametrize("corpus,pair", [("flores", ("en", "de")), ("pud", ("en", "ja")), ("ntrex", ("en", "zh")), ("tatoeba", ("en", "fr"))])
def test_named_corpora_translate_their_own_sentences(data_dir, corpus, pair):
    from xlgen.languages import same_language

    tr = make_translator(f"parallel:{corpus}")
    assert len(tr.index(*pair)) > 400
    rows = [r for r in tr.corpora[0].rows if any(same_language(t, pair[0]) for t in r.texts) and any(same_language(t, pair[1]) for t in r.texts)]
    pick = lambda r, lang: next(v for t, v in r.texts.items() if same_language(t, lang))
    sample = rows[:10] + rows[-10:]
    got = tr.translate([pick(r, pair[0]) for r in sample], *pair)
    assert sum(g == pick(r, pair[1]) for g, r in zip(got, sample)) >= 18  # a repeated source sentence keeps its first translation
    assert tr.translate(["A sentence that no corpus holds, surely."], *pair) == [None]


def test_two_sentence_items_are_covered_as_one_unit(data_dir):
    tr = make_translator("parallel:flores")
    index = tr.index("en", "zh")
    import csv

    with open(data_dir / "flores200_via_sib200" / "flores200_sib_parallel_13lang.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    two = next(r["en"] for r in rows if r["en"].count(". ") == 1 and r["en"].endswith("."))
    text = two + " " + rows[5]["en"]
    units = tr.units(text, "en", "zh")
    assert [u.text for u in units] == [two, rows[5]["en"]]
    assert all(tr.translate([u.text], "en", "zh")[0] for u in units) and len(index) > 900


def test_user_files_tsv_and_line_aligned(tmp_path):
    (tmp_path / "pairs.tsv").write_text("id\ten\tde\n1\tHello world.\tHallo Welt.\n2\tGood night.\tGute Nacht.\n", encoding="utf-8")
    tr = make_translator(f"parallel:{tmp_path / 'pairs.tsv'}")
    assert tr.translate(["Hello  world.", "Good night."], "en", "de") == ["Hallo Welt.", "Gute Nacht."]
    (tmp_path / "c.en.txt").write_text("One.\nTwo.\n", encoding="utf-8")
    (tmp_path / "c.de.txt").write_text("Eins.\nZwei.\n", encoding="utf-8")
    tr = make_translator(f"parallel:{tmp_path / 'c.{lang}.txt'}")
    units = tr.units("One. Two.", "en", "de")
    assert [tr.translate([u.text], "en", "de")[0] for u in units] == ["Eins.", "Zwei."]
    text = tmp_path / "in.txt"
    text.write_text("One. Two.\nThree.\n", encoding="utf-8")
    report = translate_dataset(text, src="en", tgts=["de"], translator=tr, out=str(tmp_path / "out"), progress=False)
    assert (tmp_path / "out" / "in.de.txt").read_text(encoding="utf-8") == "Eins. Zwei.\n\n"  # untranslatable line left empty
    assert report["languages"]["de"]["dropped"] == {"untranslated": 1}


def test_bad_corpora_are_one_line_errors(tmp_path):
    (tmp_path / "bad.tsv").write_text("id\ttext\n1\tx\n", encoding="utf-8")
    with pytest.raises(XlgenError, match="two language columns"):
        make_translator(f"parallel:{tmp_path / 'bad.tsv'}")
    with pytest.raises(XlgenError, match="no files match"):
        make_translator(f"parallel:{tmp_path / 'none.{lang}.txt'}")
    (tmp_path / "m.en.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "m.de.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(XlgenError, match="not line-aligned"):
        make_translator(f"parallel:{tmp_path / 'm.{lang}.txt'}")
    with pytest.raises(XlgenError, match="no such parallel corpus"):
        make_translator(f"parallel:{tmp_path / 'missing.tsv'}")
    with pytest.raises(XlgenError, match="KIND:TARGET"):
        make_translator("flores")
    with pytest.raises(XlgenError, match="unknown translator"):
        make_translator("nope:x")


def test_jsonl_fields_are_translated_and_missing_ones_named(tmp_path):
    (tmp_path / "p.tsv").write_text("en\tes\nA cat.\tUn gato.\nA dog.\tUn perro.\n", encoding="utf-8")
    tr = make_translator(f"parallel:{tmp_path / 'p.tsv'}")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": 1, "text": "A cat. A dog.", "summary": "A cat.", "keep": "x"}) + "\n", encoding="utf-8")
    translate_dataset(data, src="en", tgts=["es"], translator=tr, out=str(tmp_path / "o"), fields=["text", "summary"], progress=False)
    row = json.loads((tmp_path / "o" / "d.es.jsonl").read_text(encoding="utf-8"))
    assert row == {"id": 1, "text": "Un gato. Un perro.", "summary": "Un gato.", "keep": "x"}
    with pytest.raises(XlgenError, match=r"d.jsonl:1: field 'title'"):
        translate_dataset(data, src="en", tgts=["es"], translator=tr, out=str(tmp_path / "o"), fields=["title"], progress=False)
    with pytest.raises(XlgenError, match="--fields"):
        translate_dataset(data, src="en", tgts=["es"], translator=tr, out=str(tmp_path / "o"), progress=False)
    with pytest.raises(XlgenError, match="no es-en pairs|no en-ko pairs"):
        translate_dataset(data, src="en", tgts=["ko"], translator=tr, out=str(tmp_path / "o"), fields=["text"], progress=False)
