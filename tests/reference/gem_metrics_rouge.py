# The ROUGE scoring path of GEM-metrics (the `gem-metrics` package the paper uses for ROUGE), reduced to the code that
# decides the numbers, so tests can check xlgen's `paper` ROUGE against it. Source: github.com/GEM-benchmark/GEM-metrics
# at commit 8162210e73728c68f886cad6c09160694e3be9d9 (2022-10-25, the last commit; gem-metrics is not on PyPI).
# Copied verbatim from:
#   gem_metrics/tokenize.py  default_tokenize_func, dumb_tokenize
#   gem_metrics/texts.py     Texts: language lookup, tokenizer choice and the tokenized/whitespace_tokenized views
#   gem_metrics/rouge.py     ROUGE.compute (multi-reference jackknifing, rouge_score with use_stemmer=True)
#   gem_metrics/metric.py    AbstractMetric._aggregate_scores (mean over examples, rounded to 5 decimals)
# Changes, all marked "xlgen:": file loading, logging, caching and ids are dropped (texts are passed as lists);
# `nltk_ensure_download` only looks the Punkt data up and never downloads (no network here), so, exactly as gem-metrics
# does when the data is missing, the tokenizer falls back to `dumb_tokenize`; NLTK >= 3.9 raises ValueError instead of
# the LookupError of the NLTK of gem-metrics' time for a name that cannot be a Punkt model (pycountry's
# "modern greek (1453-)"), so that is caught too; `gem_rouge` below is the harness that
# calls these pieces in the order `gem_metrics.compute(..., metrics_list=["rouge"])` does. Not part of the xlgen package.
#
# MIT License
#
# Copyright (c) 2021 GEM-metrics authors
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.

import re
from functools import partial
from typing import Dict, List

import nltk
import numpy as np
from pycountry import languages
from rouge_score import rouge_scorer, scoring


# ---- gem_metrics/data.py (xlgen: lookup only, no download) ---------------------------------------------------------
def nltk_ensure_download(package: str):
    """Check if the given package is available, download if needed."""
    try:
        nltk.data.find(package)
    except LookupError:
        pass  # xlgen: gem-metrics calls nltk.download(package) here


# ---- gem_metrics/tokenize.py ----------------------------------------------------------------------------------------
def default_tokenize_func(lang: str):
    """Return the default tokenizer function for a given language (Punkt, backoff to dumb_tokenize).
    @param lang: pycountry.db.Language object representing the language (result of pycountry.languages.get)
    @return tokenizer function, taking one parameter (text) and returning list of tokens.
    """
    nltk_ensure_download("tokenizers/punkt")
    func = dumb_tokenize
    if lang is not None:
        try:
            func = partial(nltk.tokenize.word_tokenize, language=lang.name.lower())
            func(
                "."
            )  # this will trigger an exception if Punkt doesn't have the language
        except (LookupError, ValueError):  # xlgen: ValueError added, see below
            func = dumb_tokenize  # punkt
    return func


def dumb_tokenize(text: str) -> List[str]:
    """Tokenize text (separate tokens by spaces), language-agnostic failsafe version.
    @param text: String to be tokenized
    @return list of tokens
    """

    toks = text
    # separate quotes everywhere
    toks = re.sub(r'(["<>{}“”«»–|—„‚‘]|\[|\]|``|\'\'|‘‘|\^)', r" \1 ", toks)

    # the following characters (double-characters) are separated everywhere (except inside URLs)
    toks = re.sub(r"([;!()?#\$£%&*…]|--)", r" \1 ", toks)

    # short hyphen is separated if it is followed or preceeded by non-alphanuneric character and
    # is not a part of --, or a unary minus
    toks = re.sub(r"([^\-\w])\-([^\-0-9])", r"\1 - \2", toks)
    toks = re.sub(
        r"([0-9]\s+)\-([0-9])", r"\1 - \2", toks
    )  # preceded by a number - not a unary minus
    toks = re.sub(r"([^\-])\-([^\-\w])", r"\1 - \2", toks)

    # plus is separated everywhere, except at the end of a word (separated by a space) and as unary plus
    toks = re.sub(r"(\w)\+(\w)", r"\1 + \2", toks)
    toks = re.sub(r"([0-9]\s*)\+([0-9])", r"\1 + \2", toks)
    toks = re.sub(r"\+([^\w\+])", r"+ \1", toks)

    # apostrophe is separated if it is followed or preceeded by non-alphanumeric character,
    # is not part of '', and is not followed by a digit (e.g. '60).
    toks = re.sub(r"([^\'’\w])([\'’])([^\'’\d])", r"\1 \2 \3", toks)
    toks = re.sub(r"([^\'’])([\'’])([^\'’\w])", r"\1 \2 \3", toks)

    # dot, comma, slash, and colon are separated if they do not connect two numbers
    toks = re.sub(r"(\D|^)([\.,:\/])", r"\1 \2", toks)
    toks = re.sub(r"([\.,:\/])(\D|$)", r"\1 \2", toks)

    # three dots belong together
    toks = re.sub(r"\.\s*\.\s*\.", r"...", toks)

    # most common contractions
    toks = re.sub(r"([\'’´])(s|m|d|ll|re|ve)\s", r" \1\2 ", toks)  # I'm, I've etc.
    toks = re.sub(r"(n[\'’´]t\s)", r" \1 ", toks)  # do n't

    # other contractions, as implemented in Treex
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

    # clean extra space
    toks = re.sub(r"\s+", " ", toks)
    toks = toks.strip()
    return toks.split(" ")


# ---- gem_metrics/texts.py (the parts of Texts / References that ROUGE reads) ----------------------------------------
class Texts:
    def __init__(self, data, language="en"):
        self.data = [item for item in data]  # xlgen: bare lists only (gem-metrics also reads files and dicts)
        self.language = languages.get(alpha_2=language)
        # detect if we're using multiple texts per instance
        self.multi_ref = isinstance(self.data[0], list)
        # tokenize & keep a list and a whitespace version
        self.tokenize_func = default_tokenize_func(self.language)

    @property
    def _tokenized(self):
        """Return list of (lists of) tokenized strings."""
        if self.multi_ref:
            return [[self.tokenize_func(i) for i in inst] for inst in self.data]
        else:
            return [self.tokenize_func(ref) for ref in self.data]

    @property
    def whitespace_tokenized(self):
        """Return list of (lists of) tokenized strings (tokens separated by space)."""
        if self.multi_ref:
            return [[" ".join(i) for i in inst] for inst in self._tokenized]
        else:
            return [" ".join(ref) for ref in self._tokenized]


class References(Texts):
    def __init__(self, data, language="en"):
        super().__init__(data=data, language=language)
        if not self.multi_ref:
            # convert to fake multi-ref (1-element lists per instance) so that metrics
            # (mostly expecting multiple references per instance) work correctly
            self.data = [[item] for item in self.data]
            self.multi_ref = True


# ---- gem_metrics/rouge.py: ROUGE.compute ----------------------------------------------------------------------------
def rouge_compute(predictions: Texts, references: References) -> Dict:
    rouge_types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    rouge = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=True)
    scores = {}
    pred_ids = range(len(predictions.data))  # xlgen: ids are positions
    # TODO expecting pretokenized data, do we want to imitate Rouge-155 tokenizer somehow?
    for refs, pred, pred_id in zip(
        references.whitespace_tokenized,
        predictions.whitespace_tokenized,
        pred_ids,
    ):
        # ROUGE multi-ref jackknifing
        if len(refs) > 1:
            cur_scores = [rouge.score(ref, pred) for ref in refs]

            # get best score for all leave-one-out sets
            best_scores = []
            for leave in range(len(refs)):
                cur_scores_leave_one = [
                    cur_scores[s] for s in range(len(refs)) if s != leave
                ]
                best_scores.append(
                    {
                        rouge_type: max(
                            [s[rouge_type] for s in cur_scores_leave_one],
                            key=lambda s: s.fmeasure,
                        )
                        for rouge_type in rouge_types
                    }
                )

            # average the leave-one-out bests to produce the final score
            score = {
                rouge_type: scoring.Score(
                    np.mean([b[rouge_type].precision for b in best_scores]),
                    np.mean([b[rouge_type].recall for b in best_scores]),
                    np.mean([b[rouge_type].fmeasure for b in best_scores]),
                )
                for rouge_type in rouge_types
            }
        else:
            score = rouge.score(refs[0], pred)

        # convert the named tuples to plain nested dicts
        score = {
            rouge_type: {
                "precision": score[rouge_type].precision,
                "recall": score[rouge_type].recall,
                "fmeasure": score[rouge_type].fmeasure,
            }
            for rouge_type in rouge_types
        }
        scores[pred_id] = score

    return scores


# ---- gem_metrics/metric.py: AbstractMetric._aggregate_scores (the dict-of-dicts branch) -----------------------------
def aggregate_scores(score_list: List):
    l1_keys = list(score_list[0].keys())
    l2_keys = score_list[0][l1_keys[0]].keys()
    return {
        key1: {
            key2: round(
                np.mean([score[key1][key2] for score in score_list]), 5
            )
            for key2 in l2_keys
        }
        for key1 in l1_keys
    }


# ---- xlgen: the harness ---------------------------------------------------------------------------------------------
def gem_rouge(predictions: List[str], references: List, language: str) -> Dict:
    """What gem_metrics.compute(Predictions(preds, language), References(refs, language), metrics_list=["rouge"])
    returns for ROUGE, plus the per-example scores it aggregates."""
    outs = Texts(predictions, language=language)
    refs = References(references, language=language)
    per_example = rouge_compute(outs, refs)
    ordered = [per_example[i] for i in range(len(predictions))]
    return {"aggregate": aggregate_scores(ordered), "per_example": ordered}
