"""Output length, to see whether a model writes summaries of the expected size in every language."""

from __future__ import annotations

from xlgen.errors import XlgenError


def average_length(texts: list[str]) -> float:
    """Mean length in characters (Unicode code points).

    Characters rather than words because word counts mean nothing for Chinese, Japanese or Thai. The caller cleans
    the texts first (`remove_rudiments`), so leftover special tokens do not inflate lengths.
    """
    if not texts:
        raise XlgenError("no examples to score")
    return sum(len(text) for text in texts) / len(texts)
