"""Bootstrap intervals: coverage on data with a known mean, agreement with scipy's percentile bootstrap, the stratified
average over languages, and the paired difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xlgen.errors import XlgenError
from xlgen.metrics.bootstrap import (
    RESAMPLES,
    Interval,
    align,
    average_interval,
    mean_interval,
    metric_interval,
    paired_average_difference,
    paired_difference,
    settings,
)


def test_coverage_of_a_known_mean_is_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    trials = 300
    for t in range(trials):
        sample = rng.normal(50.0, 20.0, size=60)
        hits += mean_interval(sample, seed=t).includes(50.0)
    # 95% nominal; the percentile bootstrap undercovers slightly at n=60. Binomial sd at 300 trials is ~1.3 points.
    assert 0.89 <= hits / trials <= 0.99


def test_agrees_with_scipy_percentile_bootstrap():
    rng = np.random.default_rng(2)
    sample = rng.uniform(0, 100, size=200)
    ours = mean_interval(sample)
    ref = stats.bootstrap((sample,), np.mean, n_resamples=20_000, method="percentile", random_state=3).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=0.6)
    assert ours.high == pytest.approx(ref.high, abs=0.6)
    assert ours.estimate == pytest.approx(sample.mean())


def test_same_scores_same_interval_and_seed_matters():
    sample = list(np.random.default_rng(3).uniform(0, 100, size=40))
    assert mean_interval(sample) == mean_interval(sample)
    assert mean_interval(sample, seed=1) != mean_interval(sample, seed=2)


def test_constant_scores_give_a_point_interval():
    iv = mean_interval([0.0] * 16)
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert iv.includes(0.0) and iv.half_width == 0.0


def test_width_shrinks_like_one_over_root_n():
    rng = np.random.default_rng(4)
    small = mean_interval(rng.integers(0, 2, size=100) * 100.0).half_width
    large = mean_interval(rng.integers(0, 2, size=1600) * 100.0).half_width
    assert 3.0 < small / large < 5.5  # sqrt(16) = 4


def test_average_over_languages_resamples_within_each_language():
    rng = np.random.default_rng(5)
    per_lang = {"de": rng.uniform(0, 100, 50), "zh": rng.uniform(0, 20, 10)}
    iv = average_interval(per_lang)
    # Languages weigh equally, whatever their size.
    assert iv.estimate == pytest.approx((per_lang["de"].mean() + per_lang["zh"].mean()) / 2)
    assert iv.low < iv.estimate < iv.high
    # One language: the same draws as mean_interval.
    assert average_interval({"de": per_lang["de"]}) == mean_interval(per_lang["de"])
    # Stratified: no replicate can move mass between languages, so its spread matches the per-language spreads
    # combined: var(avg) = (var_de + var_zh) / 4.
    sd_de = mean_interval(per_lang["de"]).half_width
    sd_zh = mean_interval(per_lang["zh"]).half_width
    assert iv.half_width == pytest.approx(np.hypot(sd_de, sd_zh) / 2, rel=0.2)


def test_paired_difference_cancels_shared_variation():
    rng = np.random.default_rng(6)
    a = rng.uniform(0, 100, size=30)
    b = a - 2.0  # b is 2 points worse on every question
    paired = paired_difference(a, b)
    assert (paired.low, paired.estimate, paired.high) == pytest.approx((2.0, 2.0, 2.0))
    assert not paired.includes(0.0)
    # Unpaired, the two intervals overlap completely: only pairing shows the difference.
    assert mean_interval(b).high > mean_interval(a).low


def test_paired_average_difference_and_noise():
    rng = np.random.default_rng(7)
    a = {lang: rng.integers(0, 2, size=40) * 100.0 for lang in ("de", "ru")}
    b = {lang: rng.integers(0, 2, size=40) * 100.0 for lang in ("de", "ru")}
    iv = paired_average_difference(a, b)
    assert iv.estimate == pytest.approx(np.mean([a[k].mean() - b[k].mean() for k in a]))
    assert iv.includes(0.0)  # two coin-flip systems: no detectable difference
    with pytest.raises(XlgenError, match="languages differ"):
        paired_average_difference(a, {"de": b["de"]})
    with pytest.raises(XlgenError, match="same examples"):
        paired_average_difference(a, {"de": b["de"], "ru": b["ru"][:5]})


def test_metric_interval_for_a_corpus_level_metric():
    scores = np.arange(20, dtype=float)
    iv = metric_interval(lambda idx: float(np.median(scores[idx])), 20)
    assert iv.estimate == 9.5 and iv.low < 9.5 < iv.high


def test_align_by_example_id():
    a, b = align({"q1": 1.0, "q2": 0.0, "q3": 1.0}, {"q3": 0.5, "q1": 0.25, "q9": 1.0})
    assert a.tolist() == [1.0, 1.0] and b.tolist() == [0.25, 0.5]
    with pytest.raises(XlgenError, match="no example ids"):
        align({"a": 1.0}, {"b": 1.0})


def test_bad_input_is_a_user_error():
    with pytest.raises(XlgenError, match="no examples"):
        mean_interval([])
    with pytest.raises(XlgenError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(XlgenError, match="same examples"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(XlgenError, match="resamples"):
        mean_interval([1.0], resamples=0)


def test_interval_formatting_and_settings():
    assert f"{Interval(12.345, 10.0, 15.5):.1f}" == "12.3 [10.0, 15.5]"
    assert settings()["resamples"] == RESAMPLES and settings()["level"] == 0.95
