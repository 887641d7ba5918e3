"""Scores for generated text in any language, all in percent (0-100) except `average_length` (characters).

- `squad_scores`: SQuAD token F1 / exact match, official SQuAD v1.1 rules for English, MLQA rules for other languages.
- `rouge_scores`: ROUGE-1/2/L computed by rouge-score with a tokenizer that works for non-Latin scripts.
- `language_correct_rate`: share of outputs that fastText identifies as the target language.
- `average_length`: mean output length in characters.
- `remove_rudiments`: strips sentinels, language codes and special tokens; apply it before any of the above.

Each is also a registered metric (`METRICS`, xlgen.metrics.base) that declares its measures' direction and aggregation.
"""

# Registration order is the order reports list the measures in (task metrics, then diagnostics).
from xlgen.metrics.squad import exact_match, f1_score, normalize_answer, squad_scores  # noqa: I001
from xlgen.metrics.rouge import rouge_scores
from xlgen.metrics.langid import detect_languages, language_correct_rate, same_language
from xlgen.metrics.length import average_length
from xlgen.metrics.cleanup import remove_rudiments
from xlgen.metrics.base import METRICS, Measure, Metric, aggregate, all_measures, diagnostics, get_metric, measure, register_metric

__all__ = [
    "METRICS",
    "Measure",
    "Metric",
    "aggregate",
    "all_measures",
    "diagnostics",
    "get_metric",
    "measure",
    "register_metric",
    "average_length",
    "detect_languages",
    "exact_match",
    "f1_score",
    "language_correct_rate",
    "normalize_answer",
    "remove_rudiments",
    "rouge_scores",
    "same_language",
    "squad_scores",
]
