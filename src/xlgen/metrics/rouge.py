"""ROUGE-1/2/L for any language, scored by the `rouge-score` library with a multilingual tokenizer.

rouge-score's own tokenizer keeps only `[a-z0-9]+` after lowercasing, so Russian, Chinese, Arabic, Hindi, Thai,
Korean and Japanese summaries all score 0 against any reference. The library accepts a tokenizer object, so we swap
in a Unicode-aware one and leave n-gram and LCS scoring to the library.
"""

from __future__ import annotations

import functools

import regex
from nltk.stem import porter
from rouge_score import rouge_scorer

from xlgen.errors import XlgenError
from xlgen.metrics.base import Measure, Metric, register_metric
from xlgen.metrics.text import SPACELESS_CHAR, base_language

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# A token is either one character of a script written without spaces (with its combining marks), or a maximal run of
# letters, combining marks and digits. \p{M} matters: Python's \w excludes spacing vowel signs (category Mc), so it
# would cut Hindi words such as "हिन्दी" apart. Everything else (punctuation, symbols, spaces) separates tokens and is
# dropped, as rouge-score drops non-alphanumerics. For ASCII text this gives exactly rouge-score's `[a-z0-9]+` tokens.
_TOKEN = regex.compile(rf"(?V1){SPACELESS_CHAR}\p{{M}}*|[[\p{{L}}\p{{M}}\p{{N}}]--{SPACELESS_CHAR}]+")


class MultilingualTokenizer:
    """Tokenizer for `RougeScorer(tokenizer=...)`, which only needs a `tokenize(text) -> list[str]` method.

    Stemming is English-only (Porter, as rouge-score's `use_stemmer`): the libraries at hand have no stemmers for most
    of our languages, and XL-Sum's multilingual ROUGE relies on language-specific stemmers we do not have, so other
    languages are compared on surface forms.
    """

    def __init__(self, use_stemmer: bool = False):
        self._stemmer = porter.PorterStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.casefold())
        if self._stemmer is not None:
            # rouge-score stems only tokens longer than 3 characters; same rule so English matches use_stemmer=True.
            tokens = [self._stemmer.stem(t) if len(t) > 3 else t for t in tokens]
        return tokens


@functools.lru_cache(maxsize=None)
def _scorer(use_stemmer: bool) -> rouge_scorer.RougeScorer:
    # The tokenizer does not depend on the language, only on stemming, so two scorers cover every language.
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=MultilingualTokenizer(use_stemmer))


def rouge_scores(
    predictions: list[str], references: list[str], lang: str, *, use_stemmer: bool = False
) -> dict[str, float]:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-measures in percent, one reference per prediction.

    `lang` is needed only to refuse stemming outside English: silently scoring unstemmed text would make numbers
    look comparable to stemmed ones when they are not.
    """
    per = rouge_example_scores(predictions, references, lang, use_stemmer=use_stemmer)
    n = len(predictions)
    return {key: sum(values) / n for key, values in per.items()}


def rouge_example_scores(predictions: list[str], references: list[str], lang: str, *, use_stemmer: bool = False) -> dict[str, list[float]]:
    """Per-example ROUGE-1/2/L F-measures in percent, for bootstrap intervals and paired comparisons."""
    if len(predictions) != len(references):
        raise XlgenError(f"{len(predictions)} predictions but {len(references)} references; they must pair up")
    if not predictions:
        raise XlgenError("no examples to score")
    if use_stemmer and base_language(lang) != "en":
        raise XlgenError(f"ROUGE stemming is available for English only, not for language '{lang}'")
    scorer = _scorer(use_stemmer)
    out: dict[str, list[float]] = {key: [] for key in ROUGE_TYPES}
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # rouge-score takes (target, prediction)
        for key in ROUGE_TYPES:
            out[key].append(100.0 * scores[key].fmeasure)
    return out


@register_metric("rouge")
class Rouge(Metric):
    """Profile `paper`: gem-metrics' ROUGE (jackknifed over several references); `multilingual`: xlgen's
    script-aware ROUGE against the first reference (XL-Sum has one)."""

    measures = {name: Measure(name.replace("rouge", "ROUGE-"), higher_is_better=True) for name in ROUGE_TYPES}
    primary = "rouge2"

    def example_scores(self, predictions: list[str], references: list[list[str]], lang: str, profile: str):
        from xlgen.metrics.profiles import rouge_profile_scores

        return rouge_profile_scores(predictions, references, lang, profile)
