"""ROUGE exactly as the `gem-metrics` package computes it: the paper's ROUGE ("we use the gem-metrics package").

gem-metrics (github.com/GEM-benchmark/GEM-metrics, last commit 8162210, not on PyPI) scores ROUGE in three steps:

1. Pre-tokenize predictions and references with NLTK's `word_tokenize` and the Punkt model of the language (its
   pycountry name, lowercased: "english", "spanish"...), or, when NLTK has no Punkt data for it (Chinese, Korean,
   Arabic, Hindi... and every language when the Punkt data is not installed), with its own regex `dumb_tokenize`;
   rejoin the tokens with spaces.
2. Score with `rouge_score.RougeScorer(use_stemmer=True)` and its default tokenizer, which lowercases and keeps only
   `[a-z0-9]+` runs (Porter-stemming runs longer than 3 characters). Letters outside a-z are separators: Cyrillic,
   Han, Hangul, Arabic, Devanagari, Thai text contributes no tokens at all, accented Latin letters split words
   ("über" -> "ber"). A Russian or Chinese summary is scored only on its digits and Latin-script words.
3. With several references, jackknife: average over leave-one-out subsets of the best F-measure in each subset.

Steps 2 and 3 are the rouge-score library itself; step 1's `dumb_tokenize` is copied below (MIT licence, GEM-metrics
authors) because gem-metrics is not installable from PyPI. `tests/reference/gem_metrics_rouge.py` holds gem-metrics'
own code path, and `tests/test_gem_rouge.py` checks that these functions give its numbers on a fixed multilingual set.

Because step 2 drops whole scripts, `dropped_letter_share` measures how much of a reference set's text is invisible to
this ROUGE; the `paper` profile flags a language where most of it is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np
import regex
from rouge_score import rouge_scorer

from xlgen.errors import XlgenError
from xlgen.metrics.text import base_language

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# A language is flagged when gem ROUGE cannot see more than this share of its reference letters.
DROPPED_FLAG_SHARE = 0.5

# Languages whose pycountry name (what gem-metrics passes to NLTK, lowercased) names one of NLTK's Punkt models.
# Greek ("Modern Greek (1453-)") and Slovenian ("slovenian" vs Punkt's "slovene") have Punkt models gem-metrics never
# finds, so they are not listed; tests check this table against pycountry.
PUNKT_NAMES = {
    "cs": "czech", "da": "danish", "de": "german", "en": "english", "es": "spanish", "et": "estonian", "fi": "finnish",
    "fr": "french", "it": "italian", "ml": "malayalam", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ru": "russian", "sv": "swedish", "tr": "turkish",
}


def dumb_tokenize(text: str) -> list[str]:
    """gem-metrics' language-agnostic tokenizer (gem_metrics/tokenize.py, MIT licence, GEM-metrics authors), verbatim."""
    toks = text
    toks = re.sub(r'(["<>{}“”«»–|—„‚‘]|\[|\]|``|\'\'|‘‘|\^)', r" \1 ", toks)
    toks = re.sub(r"([;!()?#\$£%&*…]|--)", r" \1 ", toks)
    toks = re.sub(r"([^\-\w])\-([^\-0-9])", r"\1 - \2", toks)
    toks = re.sub(r"([0-9]\s+)\-([0-9])", r"\1 - \2", toks)
    toks = re.sub(r"([^\-])\-([^\-\w])", r"\1 - \2", toks)
    toks = re.sub(r"(\w)\+(\w)", r"\1 + \2", toks)
    toks = re.sub(r"([0-9]\s*)\+([0-9])", r"\1 + \2", toks)
    toks = re.sub(r"\+([^\w\+])", r"+ \1", toks)
    toks = re.sub(r"([^\'’\w])([\'’])([^\'’\d])", r"\1 \2 \3", toks)
    toks = re.sub(r"([^\'’])([\'’])([^\'’\w])", r"\1 \2 \3", toks)
    toks = re.sub(r"(\D|^)([\.,:\/])", r"\1 \2", toks)
    toks = re.sub(r"([\.,:\/])(\D|$)", r"\1 \2", toks)
    toks = re.sub(r"\.\s*\.\s*\.", r"...", toks)
    toks = re.sub(r"([\'’´])(s|m|d|ll|re|ve)\s", r" \1\2 ", toks)
    toks = re.sub(r"(n[\'’´]t\s)", r" \1 ", toks)
    toks = re.sub(r" ([Cc])annot\s", r" \1an not ", toks)
    toks = re.sub(r" ([Dd])\'ye\s", r" \1\' ye ", toks)
    toks = re.sub(r" ([Gg])imme\s", r" \1im me ", toks)
    toks = re.sub(r" ([Gg])onna\s", r" \1on na ", toks)
    toks = re.sub(r" ([Gg])otta\s", r" \1ot ta ", toks)
    toks = re.sub(r" ([Ll])emme\s", r" \1em me ", toks)
    toks = re.sub(r" ([Mm])ore\'n\s", r" \1ore \'n ", toks)
    toks = re.sub(r" \'([Tt])is\s", r" \'\1 is ", toks)
    toks = re.sub(r" \'([Tt])was\s", r" \'\1 was ", toks)
    toks = re.sub(r" ([Ww])anna\s", r" \1an na ", toks)
    toks = re.sub(r"\s+", " ", toks)
    toks = toks.strip()
    return toks.split(" ")


@functools.lru_cache(maxsize=None)
def pre_tokenizer(lang: str) -> tuple[Callable[[str], list[str]], str]:
    """gem-metrics' `default_tokenize_func` for a language, and its name as stated in the output: NLTK word_tokenize
    with the language's Punkt model if NLTK finds one installed, else dumb_tokenize (gem-metrics would try to download
    the Punkt data first; xlgen never touches the network and states which one it used)."""
    name = PUNKT_NAMES.get(base_language(lang))
    if name is not None:
        from nltk.tokenize import word_tokenize

        func = functools.partial(word_tokenize, language=name)
        try:
            func(".")
            return func, f"nltk word_tokenize (Punkt {name})"
        except LookupError:
            pass
    return dumb_tokenize, "gem-metrics dumb_tokenize"


@functools.lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def _score_one(scorer, pred: str, refs: list[str]) -> dict[str, float]:
    if len(refs) == 1:
        s = scorer.score(refs[0], pred)
        return {t: s[t].fmeasure for t in ROUGE_TYPES}
    # Jackknifing: for each left-out reference, the best F-measure among the others; then the mean of those bests.
    cur = [scorer.score(ref, pred) for ref in refs]
    out = {}
    for t in ROUGE_TYPES:
        bests = [max(cur[s][t].fmeasure for s in range(len(refs)) if s != leave) for leave in range(len(refs))]
        out[t] = float(np.mean(bests))
    return out


def gem_rouge_example_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], lang: str) -> dict[str, list[float]]:
    """Per-example ROUGE-1/2/L F-measures in percent, as gem-metrics computes them before averaging."""
    if len(predictions) != len(references):
        raise XlgenError(f"{len(predictions)} predictions but {len(references)} references; they must pair up")
    if not predictions:
        raise XlgenError("no examples to score")
    tokenize, _ = pre_tokenizer(lang)
    scorer = _scorer()
    out: dict[str, list[float]] = {t: [] for t in ROUGE_TYPES}
    for i, (pred, refs) in enumerate(zip(predictions, references)):
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs:
            raise XlgenError(f"example {i}: no reference")
        scores = _score_one(scorer, " ".join(tokenize(pred)), [" ".join(tokenize(r)) for r in refs])
        for t in ROUGE_TYPES:
            out[t].append(100.0 * scores[t])
    return out


_LETTER = regex.compile(r"\p{L}")
_KEPT = re.compile(r"[a-z]")


def dropped_letter_share(texts: Sequence[str]) -> float:
    """Share of the letters in `texts` that rouge-score's tokenizer discards (everything but a-z after lowercasing),
    0 for text without letters."""
    letters = kept = 0
    for text in texts:
        letters += len(_LETTER.findall(text))
        kept += len(_KEPT.findall(text.lower()))
    return 0.0 if letters == 0 else max(0.0, 1.0 - kept / letters)


def script_flag(references: Sequence[Sequence[str]], lang: str) -> str | None:
    """A one-line warning when gem ROUGE scores this language's script as empty, else None."""
    share = dropped_letter_share([r for refs in references for r in ([refs] if isinstance(refs, str) else refs)])
    if share <= DROPPED_FLAG_SHARE:
        return None
    return (f"gem-metrics ROUGE drops {100 * share:.0f}% of the {lang} reference letters (it keeps only a-z and 0-9): "
            "this script is scored as empty, only digits and Latin-script words count")
