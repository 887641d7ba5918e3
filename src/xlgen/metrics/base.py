"""The metric registry: what each metric computes, and how a reader (selection, reports) should read its numbers.

A metric is a class registered under the name a task config uses (`task.metric: squad`); it scores a language's
predictions against their references and reports one or more measures (SQuAD: `f1` and `exact_match`). Each measure
declares its direction (`higher_is_better`), how per-language numbers combine into the headline average
(`aggregation`) and its label, once, as lm-evaluation-harness does; the LR protocol, the training summary and the
study report read them from here instead of assuming "higher is better" or a column order. Diagnostic metrics
(language-correct rate, output length) are computed for every task, after its own metric.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from xlgen.errors import XlgenError
from xlgen.registry import Registry

# How per-language (or per-seed) values of a measure combine into one number.
AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {"mean": statistics.fmean}


@dataclass(frozen=True)
class Measure:
    """One number a metric reports."""

    label: str
    higher_is_better: bool | None  # None: no better direction (output length is read, not maximised)
    aggregation: str = "mean"
    digits: int = 2  # decimals in report tables


class Metric:
    name: str = ""
    # The measures `score` returns, in the order reports show them; `primary` is the one a task selects on.
    measures: dict[str, Measure] = {}
    primary: str = ""
    # Computed for every task after its own metric (language-correct rate, length); not a `task.metric` choice.
    diagnostic: bool = False

    def score(self, predictions: list[str], references: list[list[str]], lang: str, profile: str = "paper") -> dict[str, float]:
        """Scores of one language's (cleaned) predictions, each against its list of references, under a metric profile
        (xlgen.metrics.profiles): the means of `example_scores`."""
        per = self.example_scores(predictions, references, lang, profile).per_example
        return {name: sum(values) / len(values) for name, values in per.items()}

    def example_scores(self, predictions: list[str], references: list[list[str]], lang: str, profile: str):
        """Per-example scores in the measures' units under `profile` (`xlgen.metrics.profiles.ProfileScores`): what
        bootstrap intervals and paired comparisons resample. Task metrics implement it."""
        raise NotImplementedError(f"metric {self.name!r} has no per-example scores")


METRICS = Registry("metric", "task.metric")
register_metric = METRICS.register


def get_metric(name: str) -> Metric:
    return METRICS.lookup(name)()


def diagnostics() -> list[Metric]:
    return [cls() for cls in dict.fromkeys(METRICS.values()) if cls.diagnostic]


def all_measures() -> dict[str, Measure]:
    """Every registered measure by name: task metrics' first (in registration order), then the diagnostics'."""
    classes = list(dict.fromkeys(METRICS.values()))
    ordered = [c for c in classes if not c.diagnostic] + [c for c in classes if c.diagnostic]
    return {name: m for c in ordered for name, m in c.measures.items()}


def measure(name: str) -> Measure:
    found = all_measures().get(name)
    if found is None:
        raise XlgenError(f"unknown measure {name!r} (known: {', '.join(all_measures())})")
    return found


def aggregate(name: str, values: list[float]) -> float:
    """Combine per-language (or per-seed) values of measure `name` as it declares (the mean, for every measure today)."""
    return AGGREGATIONS[measure(name).aggregation](values)
