"""Metric profiles: two named ways of scoring the same outputs, both computed on every evaluation.

- `paper`: exactly the paper's tools (Chirkova & Nikoulina, appendix A), so numbers compare with published ones:
  QA F1/EM with the official SQuAD v1.1 script's normalisation in every language (what the XQuAD authors report with;
  the script splits on whitespace only, so a Chinese answer is one token), ROUGE as `gem-metrics` computes it
  (`gem_rouge`: letters outside a-z count for nothing, so such languages are flagged), language ID with fastText
  lid.176 (`langid`).
- `multilingual`: xlgen's script-aware variants: MLQA normalisation and character tokens for languages written without
  spaces (`squad`), ROUGE with a tokenizer that keeps every script (`rouge`).

Language-correct rate and length do not depend on the profile. Scores are per example (in percent) so every number
can carry a bootstrap interval and two systems can be compared on the same examples (`xlgen.metrics.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xlgen.errors import XlgenError

PROFILES = ("paper", "multilingual")
DEFAULT_PROFILE = "paper"


def check_profile(name: str, where: str = "task.metric_profile") -> str:
    if name not in PROFILES:
        raise XlgenError(f"{where}: unknown metric profile {name!r} (known: {', '.join(PROFILES)})")
    return name


def other_profile(name: str) -> str:
    return next(p for p in PROFILES if p != name)


@dataclass
class ProfileScores:
    """One profile's per-example task scores, plus warnings about rows the profile cannot score faithfully."""

    per_example: dict[str, list[float]]
    flags: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)


def squad_profile_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], lang: str, profile: str) -> ProfileScores:
    from xlgen.metrics.squad import squad_example_scores

    check_profile(profile, "profile")
    # The official SQuAD v1.1 script's rules are xlgen's English rules, applied to every language.
    rules = "en" if profile == "paper" else lang
    per = squad_example_scores(predictions, references, rules)
    details = {"normalization": "official SQuAD v1.1 script" if profile == "paper" else "MLQA (language-aware) + xlgen spaceless scripts"}
    return ProfileScores(per, details=details)


def rouge_profile_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], lang: str, profile: str) -> ProfileScores:
    check_profile(profile, "profile")
    if profile == "paper":
        from xlgen.metrics.gem_rouge import gem_rouge_example_scores, pre_tokenizer, script_flag

        per = gem_rouge_example_scores(predictions, references, lang)
        flag = script_flag(references, lang)
        return ProfileScores(per, flags=[flag] if flag else [], details={"rouge": f"gem-metrics (rouge-score, Porter stemming; {pre_tokenizer(lang)[1]})"})
    from xlgen.metrics.rouge import rouge_example_scores

    return ProfileScores(rouge_example_scores(predictions, [r[0] if not isinstance(r, str) else r for r in references], lang),
                         details={"rouge": "rouge-score with xlgen's multilingual tokenizer, no stemming"})
