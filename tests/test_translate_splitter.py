"""Sentence splitting for translation: lossless in every script, boundaries found on real parallel text."""

import csv

import pytest

from xlgen.translate.base import sentence_units
from xlgen.translate.splitter import joiner, split_sentences, split_units

LANGS = ("en", "fr", "es", "de", "ru", "zh", "ar", "ko", "ja", "hi", "vi", "ro")


@pytest.fixture(scope="module")
def flores(data_dir):
    with open(data_dir / "flores200_via_sib200" / "flores200_sib_parallel_13lang.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:200]


@pytest.fixture(scope="module")
def pud(data_dir):
    with open(data_dir / "ud_pud_parallel" / "pud_parallel_11lang.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:300]


def _recall(rows, lang):
    """Share of joins between consecutive single sentences that the splitter finds again."""
    found = total = 0
    for a, b in zip(rows[::2], rows[1::2]):
        x, y = a[lang].strip(), b[lang].strip()
        text = x + joiner(lang) + y
        segs = split_units(text, lang)
        total += 1
        found += segs[-1] == y or y in segs
    return found / total


@pytest.mark.parametrize("lang", ["en", "de", "ru", "zh", "ar", "ko", "ja", "hi"])
def test_finds_sentence_boundaries_on_ud_pud(pud, lang):
    assert _recall(pud, lang) >= 0.9


@pytest.mark.parametrize("lang", LANGS + ("th",))
def test_segments_concatenate_back_to_the_text(flores, lang):
    for i in range(0, 100, 5):
        text = joiner(lang).join(r[lang].strip() for r in flores[i : i + 5])
        assert "".join(split_sentences(text, lang)) == text
        for u in sentence_units(text, lang):
            assert text[u.start : u.end] == u.text and u.text == u.text.strip()


def test_cjk_full_stop_before_a_digit_ends_a_sentence():
    # sentencex alone keeps "。" + digit together (a decimal point elsewhere); in Chinese it never is one.
    assert split_units("成本为103.7亿美元。2010年，该基金会发布了报告。", "zh") == ["成本为103.7亿美元。", "2010年，该基金会发布了报告。"]
    assert split_units("彼は言った。「本当ですか？」と。", "ja")[0] == "彼は言った。"


def test_thai_is_split_by_pythainlp_when_installed():
    pytest.importorskip("pythainlp")
    pytest.importorskip("pycrfsuite")
    text = "เมื่อวันจันทร์ที่ผ่านมา นักวิทยาศาสตร์ได้ประกาศการค้นพบใหม่ เขากล่าวว่าราคาถูกมาก"
    units = split_units(text, "th")
    assert len(units) >= 2 and "".join(split_sentences(text, "th")) == text


def test_long_units_are_cut_at_spaces_under_the_limit():
    text = " ".join(["word"] * 400)  # no sentence end at all
    segs = split_sentences(text, "en", max_chars=100)
    assert "".join(segs) == text and all(len(s.strip()) <= 100 for s in segs)
    assert all(not s.strip().startswith("ord") for s in segs)  # cut between words
    cjk = "这" * 250
    assert all(len(s) <= 100 for s in split_sentences(cjk, "zh", max_chars=100))


def test_lines_stay_separate_and_joiners_follow_the_script():
    assert split_units("First line\nSecond line. Third.", "en") == ["First line", "Second line.", "Third."]
    assert joiner("zh") == "" and joiner("ja") == "" and joiner("zh-Hant") == ""
    assert joiner("de") == " " and joiner("th") == " " and joiner("ko") == " "
