"""95% bootstrap intervals over examples: for one language's mean, for an average over languages, and for the
difference between two systems scored on the same examples (paired).

Every number xlgen reports from a few dozen questions carries one of these, because a mean of 16 F1 scores can move
by 20 points with a different 16 questions. The API is small and stable (other modules and branches build on it):

    mean_interval(scores)                         -> Interval   one language, one system
    average_interval({lang: scores})              -> Interval   mean over languages of the per-language means
    paired_difference(a, b)                       -> Interval   mean(a) - mean(b), a[i] and b[i] the same example
    paired_average_difference({lang: a}, {lang: b}) -> Interval the same for averages over languages
    metric_interval(fn, n)                        -> Interval   any metric of the example indices (not vectorised)

Method: the percentile bootstrap with `RESAMPLES` (1000) resamples of the examples, drawn with replacement from
`numpy.random.default_rng(SEED)` (seed 0), so the same scores always give the same interval. Averages over languages
resample examples within each language (a stratified bootstrap: each language keeps its own size, as the average
weights languages equally); paired differences draw the same example indices for both systems, which cancels the
variation that comes from which questions were asked and leaves the variation of the difference itself.

Hand-written on numpy rather than `scipy.stats.bootstrap`: scipy has no stratified resampling (the average over
languages), and its default BCa interval is NaN for constant samples (an F1 of 0 on every question is common here);
one percentile implementation, vectorised as an index matrix (resamples x examples), serves all cases alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xlgen.errors import XlgenError

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate (on all the examples) with the bootstrap percentile interval around it."""

    estimate: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def includes(self, value: float = 0.0) -> bool:
        """Whether `value` (by default 0, "no difference") lies inside the interval: then the data cannot tell."""
        return self.low <= value <= self.high

    def to_list(self) -> list[float]:
        return [self.low, self.high]

    def __format__(self, spec: str) -> str:
        spec = spec or ".1f"
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def settings() -> dict:
    """What every file that stores intervals records alongside them."""
    return {"method": "percentile bootstrap over examples", "resamples": RESAMPLES, "seed": SEED, "level": LEVEL}


def _array(scores, what: str = "scores") -> np.ndarray:
    a = np.asarray(scores, dtype=float)
    if a.ndim != 1:
        raise XlgenError(f"{what}: expected a flat sequence of per-example scores, got shape {a.shape}")
    if a.size == 0:
        raise XlgenError(f"{what}: no examples to bootstrap")
    if not np.all(np.isfinite(a)):
        raise XlgenError(f"{what}: per-example scores must be finite numbers")
    return a


def _indices(n: int, rng: np.random.Generator, resamples: int) -> np.ndarray:
    return rng.integers(0, n, size=(resamples, n))


def _interval(estimate: float, replicates: np.ndarray, level: float) -> Interval:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    # Guard against float noise putting the estimate a hair outside a degenerate interval (all scores equal).
    return Interval(float(estimate), float(min(low, estimate)), float(max(high, estimate)))


def _check(resamples: int, level: float) -> None:
    if resamples < 1:
        raise XlgenError(f"bootstrap: resamples must be positive, got {resamples}")
    if not 0 < level < 1:
        raise XlgenError(f"bootstrap: level must be between 0 and 1, got {level}")


def mean_interval(scores: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """Interval of the mean of per-example scores (F1, exact match, ROUGE, 0/100 language-correct, length)."""
    _check(resamples, level)
    a = _array(scores)
    rng = np.random.default_rng(seed)
    means = a[_indices(a.size, rng, resamples)].mean(axis=1)
    return _interval(a.mean(), means, level)


def _per_language_replicates(groups: Mapping[str, np.ndarray], rng: np.random.Generator, resamples: int, partner=None):
    """Replicates of each language's mean (and of the partner system's, drawn with the same indices)."""
    reps, partner_reps = [], []
    for lang in sorted(groups):  # a fixed order, so the same data give the same draws whatever the dict order
        idx = _indices(groups[lang].size, rng, resamples)
        reps.append(groups[lang][idx].mean(axis=1))
        if partner is not None:
            partner_reps.append(partner[lang][idx].mean(axis=1))
    return np.vstack(reps), (np.vstack(partner_reps) if partner is not None else None)


def _groups(per_lang: Mapping[str, Sequence[float]], what: str) -> dict[str, np.ndarray]:
    if not per_lang:
        raise XlgenError(f"{what}: no languages to average")
    return {lang: _array(s, f"{what}[{lang}]") for lang, s in per_lang.items()}


def average_interval(per_lang: Mapping[str, Sequence[float]], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """Interval of the unweighted mean over languages of each language's mean score (the paper's headline average),
    resampling examples within each language."""
    _check(resamples, level)
    groups = _groups(per_lang, "average_interval")
    reps, _ = _per_language_replicates(groups, np.random.default_rng(seed), resamples)
    estimate = float(np.mean([g.mean() for g in groups.values()]))
    return _interval(estimate, reps.mean(axis=0), level)


def paired_difference(a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """Interval of mean(a) - mean(b) where a[i] and b[i] score the same example under two systems."""
    _check(resamples, level)
    x, y = _array(a, "a"), _array(b, "b")
    if x.size != y.size:
        raise XlgenError(f"paired_difference: {x.size} and {y.size} scores; a paired bootstrap needs the same examples")
    return mean_interval(x - y, resamples=resamples, seed=seed, level=level)


def paired_average_difference(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]], *, resamples: int = RESAMPLES,
                              seed: int = SEED, level: float = LEVEL) -> Interval:
    """Interval of (average over languages of a) - (the same of b), resampling the same examples for both within
    each language."""
    _check(resamples, level)
    ga, gb = _groups(a, "a"), _groups(b, "b")
    if set(ga) != set(gb):
        raise XlgenError(f"paired_average_difference: languages differ ({sorted(ga)} vs {sorted(gb)})")
    for lang in ga:
        if ga[lang].size != gb[lang].size:
            raise XlgenError(f"paired_average_difference: language '{lang}' has {ga[lang].size} and {gb[lang].size} scores; "
                             "a paired bootstrap needs the same examples")
    diff = {lang: ga[lang] - gb[lang] for lang in ga}
    return average_interval(diff, resamples=resamples, seed=seed, level=level)


def metric_interval(metric: Callable[[np.ndarray], float], n: int, *, resamples: int = RESAMPLES, seed: int = SEED,
                    level: float = LEVEL) -> Interval:
    """Interval of any metric computed from a set of example indices (e.g. a corpus-level score that is not a mean
    of per-example scores). `metric(indices)` is called once on `arange(n)` and once per resample."""
    _check(resamples, level)
    if n < 1:
        raise XlgenError("metric_interval: no examples to bootstrap")
    rng = np.random.default_rng(seed)
    estimate = float(metric(np.arange(n)))
    reps = np.array([float(metric(idx)) for idx in _indices(n, rng, resamples)])
    if not np.all(np.isfinite(reps)) or not math.isfinite(estimate):
        raise XlgenError("metric_interval: the metric returned a non-finite value")
    return _interval(estimate, reps, level)


def align(rows_a: Mapping[str, float], rows_b: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-example scores of two systems keyed by example id, restricted to the ids both scored, in one order: what
    a paired bootstrap needs when two runs evaluated (almost) the same examples."""
    ids = sorted(set(rows_a) & set(rows_b))
    if not ids:
        raise XlgenError("align: the two systems share no example ids")
    return np.array([rows_a[i] for i in ids], dtype=float), np.array([rows_b[i] for i in ids], dtype=float)


__all__ = ["Interval", "LEVEL", "RESAMPLES", "SEED", "align", "average_interval", "mean_interval", "metric_interval",
           "paired_average_difference", "paired_difference", "settings"]
