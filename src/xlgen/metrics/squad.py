"""SQuAD-style extractive QA scores (token F1 and exact match) for any language.

English follows the official SQuAD v1.1 evaluation script to the bit, so English numbers are comparable with
published ones. The six MLQA languages (ar, de, es, hi, vi, zh) follow MLQA's `mlqa_evaluation_v1.py`, which extends
that script with Unicode punctuation, per-language articles and character-level Chinese tokens; XQuAD results are
usually reported with it. No library ships these scripts as an importable API (the Hugging Face `evaluate` metrics
need a hub download), so the few lines are reproduced here; tests check them against verbatim copies of both scripts.
"""

from __future__ import annotations

import re
import string
from collections import Counter

import regex

from xlgen.errors import XlgenError
from xlgen.metrics.base import Measure, Metric, register_metric
from xlgen.metrics.text import SPACELESS_CHAR, base_language

# MLQA: every Unicode punctuation character (categories P*) plus ASCII punctuation, which also has symbols ($+<=>^`|~).
# MLQA builds this set from Python's unicodedata; `regex` may know a newer Unicode version, which can only differ on
# punctuation added recently, and a regex is far faster than scanning all 1.1M code points at import.
_UNICODE_PUNCT = regex.compile(r"[\p{P}" + regex.escape(string.punctuation) + "]")
_ASCII_PUNCT = set(string.punctuation)

# Article patterns, applied after lowercasing and punctuation removal (the order of both scripts). The stdlib `re`
# module is used on purpose: its Unicode \b is what the reference scripts use.
_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),  # SQuAD v1.1 and MLQA
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),  # MLQA
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),  # MLQA
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),  # MLQA
    # MLQA's pattern, copied as is. The first alternative can never match (`^` after text), so in effect every "ال"
    # is replaced by a space, also inside words; we keep the quirk so Arabic scores match MLQA's.
    "ar": re.compile("\\sال^|ال"),
    # Not in MLQA. French articles; the elided "l'" is handled before punctuation removal (see _FR_ELISION).
    "fr": re.compile(r"\b(le|la|les|un|une|des)\b"),
}
# Elided article: "l'homme" must lose "l'", but removing punctuation first would glue it into "lhomme".
_FR_ELISION = re.compile(r"\bl['’]")
# Languages without articles to remove: hi and zh (as MLQA says, no formal articles) and every language not listed
# above. Romanian and Greek are deliberately left out: Romanian definite articles are suffixes (-ul, -a) that a word
# regex cannot strip, and its indefinite "o" is also a pronoun; Greek articles (το, του, της) double as pronouns,
# and common XQuAD evaluations (XTREME) apply no Greek article removal, so removing them would make scores less
# comparable.

# MLQA's "mixed segmentation" for Chinese: each character in U+4E00..U+9FA5 is a token, other text is split on
# whitespace. The range is MLQA's, kept so Chinese scores match MLQA's exactly.
_MLQA_ZH = regex.compile(r"[\u4e00-\u9fa5]|[^\u4e00-\u9fa5]+")
# Not in MLQA: the same idea for other languages written without spaces (Japanese kana and kanji, Thai, Lao, Khmer,
# Burmese, Cantonese). Whitespace splitting would make a whole sentence one token, so F1 would be all or nothing.
# A token is one letter with its combining marks (a Thai vowel sign belongs to its consonant).
_SPACELESS = regex.compile(rf"(?V1s){SPACELESS_CHAR}\p{{M}}*|(?:(?!{SPACELESS_CHAR}).)+")
_SPACELESS_LANGS = {"ja", "th", "lo", "km", "my", "yue"}


def normalize_answer(text: str, lang: str) -> str:
    """Put an answer in the canonical form F1 and exact match compare: lowercase, no punctuation or articles,
    tokens separated by single spaces."""
    return _normalize(text, base_language(lang))


def _normalize(text: str, lang: str) -> str:
    text = text.lower()
    if lang == "en":
        # SQuAD v1.1 removes only ASCII punctuation; MLQA's English differs, and published English numbers use SQuAD's.
        text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    else:
        if lang == "fr":
            text = _FR_ELISION.sub(" ", text)
        text = _UNICODE_PUNCT.sub("", text)
    articles = _ARTICLES.get(lang)
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = text.split()
    if lang == "zh":
        tokens = [t for chunk in tokens for t in _MLQA_ZH.findall(chunk)]
    elif lang in _SPACELESS_LANGS:
        tokens = [t for chunk in tokens for t in _SPACELESS.findall(chunk)]
    return " ".join(tokens)


def _f1(pred_norm: str, gold_norm: str) -> float:
    pred_tokens = pred_norm.split()
    gold_tokens = gold_norm.split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def f1_score(prediction: str, ground_truth: str, lang: str) -> float:
    """Bag-of-tokens F1 in 0..1, giving partial credit for answers with the wrong span boundaries."""
    lang = base_language(lang)
    return _f1(_normalize(prediction, lang), _normalize(ground_truth, lang))


def exact_match(prediction: str, ground_truth: str, lang: str) -> float:
    """1.0 if the answers are equal after normalization, so case, punctuation and articles do not count."""
    lang = base_language(lang)
    return float(_normalize(prediction, lang) == _normalize(ground_truth, lang))


def squad_scores(predictions: list[str], references: list[list[str]], lang: str) -> dict[str, float]:
    """F1 and exact match in percent, each example scored against its best-matching gold answer.

    Several annotators may give different valid spans, so like the official script we take the maximum over the gold
    answers, then average over examples.
    """
    if len(predictions) != len(references):
        raise XlgenError(f"{len(predictions)} predictions but {len(references)} reference lists; they must pair up")
    if not predictions:
        raise XlgenError("no examples to score")
    lang = base_language(lang)
    f1_total = em_total = 0.0
    for i, (prediction, golds) in enumerate(zip(predictions, references)):
        if isinstance(golds, str) or not golds:
            raise XlgenError(f"example {i}: expected a non-empty list of gold answers, got {golds!r}")
        pred_norm = _normalize(prediction, lang)
        gold_norms = [_normalize(gold, lang) for gold in golds]
        em_total += max(float(pred_norm == gold) for gold in gold_norms)
        f1_total += max(_f1(pred_norm, gold) for gold in gold_norms)
    # Same arithmetic as the official script (running sum, then 100 * sum / n) so English results are bit-identical.
    n = len(predictions)
    return {"f1": 100.0 * f1_total / n, "exact_match": 100.0 * em_total / n}


def squad_example_scores(predictions, references, lang: str) -> dict[str, list[float]]:
    """Per-example F1 and exact match in percent (best gold answer each), for bootstrap intervals and paired
    comparisons; their means are `squad_scores`."""
    if len(predictions) != len(references):
        raise XlgenError(f"{len(predictions)} predictions but {len(references)} reference lists; they must pair up")
    if not predictions:
        raise XlgenError("no examples to score")
    lang = base_language(lang)
    f1s, ems = [], []
    for i, (prediction, golds) in enumerate(zip(predictions, references)):
        if isinstance(golds, str) or not golds:
            raise XlgenError(f"example {i}: expected a non-empty list of gold answers, got {golds!r}")
        pred_norm = _normalize(prediction, lang)
        gold_norms = [_normalize(gold, lang) for gold in golds]
        ems.append(100.0 * max(float(pred_norm == gold) for gold in gold_norms))
        f1s.append(100.0 * max(_f1(pred_norm, gold) for gold in gold_norms))
    return {"f1": f1s, "exact_match": ems}


@register_metric("squad")
class Squad(Metric):
    measures = {"f1": Measure("F1", higher_is_better=True), "exact_match": Measure("exact match", higher_is_better=True)}
    primary = "f1"

    def example_scores(self, predictions: list[str], references: list[list[str]], lang: str, profile: str):
        from xlgen.metrics.profiles import squad_profile_scores

        return squad_profile_scores(predictions, references, lang, profile)
