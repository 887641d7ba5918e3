"""Output length, to see whether a model writes summaries of the expected size in every language."""

from __future__ import annotations

from xlgen.errors import XlgenError
from xlgen.metrics.base import Measure, Metric, register_metric


def average_length(texts: list[str]) -> float:
    """Mean length in characters (Unicode code points).

    Characters rather than words because word counts mean nothing for Chinese, Japanese or Thai. The caller cleans
    the texts first (`remove_rudiments`), so leftover special tokens do not inflate lengths.
    """
    if not texts:
        raise XlgenError("no examples to score")
    return sum(len(text) for text in texts) / len(texts)


@register_metric("avg_length")
class AverageLength(Metric):
    measures = {"avg_length": Measure("average output length (characters)", higher_is_better=None, digits=1)}
    primary = "avg_length"
    diagnostic = True

    def score(self, predictions: list[str], references: list[list[str]], lang: str) -> dict[str, float]:
        return {"avg_length": average_length(predictions)}
