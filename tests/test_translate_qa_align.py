"""Answer realignment: exact, then the untranslated answer, then fuzzy above the threshold; the hinted sentence
decides between several occurrences."""

from xlgen.translate.qa_align import FUZZY_THRESHOLD, align_answer, reference_agreement

CTX = "Die Denver Broncos besiegten die Carolina Panthers. Im Jahr darauf verloren die Broncos gegen die Panthers."


def test_exact_match_prefers_the_hinted_sentence():
    second = CTX.index("Im Jahr")
    first = align_answer(CTX, "Broncos")
    assert first.method == "exact" and first.start == CTX.index("Broncos")
    hinted = align_answer(CTX, "Broncos", hint=(second, len(CTX)))
    assert hinted.start == CTX.rindex("Broncos") and hinted.text == "Broncos"


def test_anchor_picks_between_occurrences_inside_one_unit():
    ctx = "Panthers A. Panthers B. Panthers C."
    got = align_answer(ctx, "Panthers", hint=(0, len(ctx)), anchor=ctx.rindex("Panthers") - 2)
    assert got.start == ctx.rindex("Panthers")


def test_untranslated_answer_is_tried_before_fuzzy():
    got = align_answer(CTX, "Die Karolina-Pantherinnen", source_answer="Carolina Panthers")
    assert got.method == "exact-source" and got.text == "Carolina Panthers"


def test_fuzzy_match_widens_to_words_and_respects_the_threshold():
    got = align_answer(CTX, "Carolina Panther")  # exact substring: taken as it is
    assert got.method == "exact" and got.text == "Carolina Panther"
    got = align_answer(CTX, "die Karolina Panthers")
    assert got.method == "fuzzy" and got.score >= FUZZY_THRESHOLD
    assert CTX[got.start : got.start + len(got.text)] == got.text and "Panthers" in got.text
    assert align_answer(CTX, "Katzen und Hunde") is None
    assert align_answer(CTX, "die Karolina Panthers", threshold=99) is None


def test_fuzzy_in_chinese_needs_no_word_boundaries():
    ctx = "丹佛野马队以24比10击败了卡罗来纳黑豹队。"
    got = align_answer(ctx, "卡罗莱纳黑豹队")
    assert got.method == "fuzzy" and ctx[got.start :].startswith(got.text) and "黑豹队" in got.text


def test_empty_inputs_are_unalignable():
    assert align_answer("", "x") is None and align_answer(CTX, "  ") is None


def test_reference_agreement_ignores_sentence_spacing():
    ref = {"data": [{"paragraphs": [{"context": "甲。 乙丙。", "qas": [{"id": "q", "answers": [{"text": "乙", "answer_start": 3}]}]}]}]}
    ours = {"data": [{"paragraphs": [{"context": "甲。乙丙。", "qas": [{"id": "q", "answers": [{"text": "乙", "answer_start": 2}]}]}]}]}
    assert reference_agreement(ours, ref) == {"reference_questions": 1, "aligned": 1, "same_text": 1, "same_span": 1}
    ours["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 0
    assert reference_agreement(ours, ref)["same_span"] == 0
