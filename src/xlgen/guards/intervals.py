"""Bootstrap intervals over examples, for comparing guards on the same questions.

A small vectorised percentile bootstrap kept here until `xlgen.metrics` has its own (branch `metrics`, issue 11);
then the guards benchmark switches to that one. scipy.stats.bootstrap would do it but scipy is not a dependency, and
the paired form (one resample of the questions shared by every setting compared) is what matters here: settings
evaluated on the same questions differ by much less than their separate intervals suggest.
"""

from __future__ import annotations

import numpy as np


def bootstrap_means(values, n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and percentile interval of each column of `values` (examples x settings, or one vector of examples).

    All columns are resampled with the same example indices, so intervals of column differences computed from the
    same draws (`paired_difference`) are paired. Returns (mean, low, high), each of shape (settings,) or scalar.
    """
    x = np.asarray(values, dtype=np.float64)
    vector = x.ndim == 1
    x = x[:, None] if vector else x
    n = x.shape[0]
    if n == 0:
        raise ValueError("no examples to bootstrap")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    draws = x[idx].mean(axis=1)  # (resamples, settings)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    mean = x.mean(axis=0)
    return (mean[0], lo[0], hi[0]) if vector else (mean, lo, hi)


def paired_difference(a, b, n_resamples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over the same examples, with its bootstrap interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same examples ({a.shape} vs {b.shape})")
    m, lo, hi = bootstrap_means(a - b, n_resamples, level, seed)
    return float(m), float(lo), float(hi)
