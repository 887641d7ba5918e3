"""What every task hands to the rest of xlgen: examples, a loader per dataset source, and the scoring.

The task is the only scorer: training, `xlgen evaluate` and `xlgen score` all call `Task.score`, which runs the task's
metric (a registered one, xlgen.metrics) and the diagnostics every output gets (language-correct rate, length).
Adding a task is one module that subclasses `Task` and registers it (see DEVELOPERS.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xlgen.config import DatasetSpec, TaskConfig, expand_path, fill_language
from xlgen.errors import XlgenError
from xlgen.metrics.base import get_metric
from xlgen.registry import Registry


@dataclass
class Example:
    id: str
    lang: str
    # The croppable body of the input (QA: the paragraph). Cropping to the model's maximum removes tokens from its end.
    input: str
    # Kept whole after the body (QA: the question, which the paper appends at the end of the paragraph).
    suffix: str = ""
    # The training target (QA: the first gold answer).
    target: str = ""
    # Every gold output, for scoring (QA: all gold answers).
    references: list[str] = field(default_factory=list)


class Task:
    """A task: how to read its records, what the model is asked for, and how outputs are scored."""

    name: str = ""
    # The word decoder-only prompts end with ("Answer in German:").
    instruction: str = "Output"
    default_max_new_tokens: int = 64
    # The registered metric that scores this task (xlgen.metrics); its primary measure is what a study selects on.
    metric: str = ""
    # Whether the output is a span of the input (extractive QA): the span guard (xlgen.guards) needs it.
    extractive: bool = False

    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg

    # -- loading --------------------------------------------------------------------------------------------------
    def load_file(self, path: Path, lang: str) -> list[Example]:
        raise NotImplementedError

    def load_hf(self, records, source: str, lang: str) -> list[Example]:
        raise NotImplementedError

    def load(self, spec: DatasetSpec, lang: str, *, evaluation: bool = False) -> list[Example]:
        """Load one language of a dataset spec; an empty result is an error naming the source."""
        if spec.path:
            path = Path(expand_path(spec.path, lang, spec.lang_names))
            if not path.exists():
                raise XlgenError(f"{path}: no such data file (language '{lang}', from path {spec.path!r})")
            examples = self.load_file(path, lang)
            source = str(path)
        elif spec.hf:
            records, source = _load_hf_records(spec, lang)
            examples = self.load_hf(records, source, lang)
        else:
            raise XlgenError("dataset spec needs `path` (a local file) or `hf` (a Hugging Face dataset name)")
        if evaluation:
            examples = self.filter_for_evaluation(examples, lang)
        if spec.max_examples is not None:
            examples = examples[: spec.max_examples]
        if not examples:
            raise XlgenError(f"{source}: no examples (language '{lang}'{', after filtering' if evaluation else ''})")
        return examples

    def filter_for_evaluation(self, examples: list[Example], lang: str) -> list[Example]:
        return examples

    def read_references(self, path: Path, lang: str) -> dict[str, list[str]]:
        """Gold outputs by example id from a reference file, for `xlgen score` (the evaluation filter applies)."""
        examples = self.filter_for_evaluation(self.load_file(path, lang), lang)
        return {ex.id: ex.references for ex in examples}

    # -- scoring --------------------------------------------------------------------------------------------------
    @property
    def primary_metric(self) -> str:
        return get_metric(self.metric).primary

    def score(self, predictions: list[str], references: list[list[str]], lang: str) -> dict:
        """The metrics row for one language's cleaned predictions: the task metric's measures under the headline
        profile (`task.metric_profile`), then the diagnostics, then `n`, each with a 95% interval, and both profiles'
        numbers under `profiles` (xlgen.metrics.rows)."""
        return self.score_examples(predictions, references, lang)[0]

    def score_examples(self, predictions: list[str], references: list[list[str]], lang: str) -> tuple[dict, list[dict]]:
        """The metrics row and each example's scores (kept beside the predictions for paired comparisons)."""
        from xlgen.metrics.rows import score_outputs

        return score_outputs(self, predictions, references, lang)


def _load_hf_records(spec: DatasetSpec, lang: str):
    """The real path for online users: `datasets.load_dataset(name, config, split)`; not exercised offline."""
    try:
        import datasets
    except ImportError:  # pragma: no cover
        raise XlgenError("loading Hugging Face datasets needs the `datasets` package") from None
    name = fill_language(spec.hf, lang, spec.lang_names)
    config = fill_language(spec.hf_config, lang, spec.lang_names) if spec.hf_config else None
    source = f"hf:{name}" + (f"/{config}" if config else "") + f"[{spec.split}]"
    try:
        ds = datasets.load_dataset(name, config, split=spec.split)
    except Exception as e:  # network, unknown name, unknown split: all user-fixable
        raise XlgenError(f"{source}: could not load ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return ds, source


TASKS = Registry("task", "task.name")
register_task = TASKS.register


def get_task(cfg: TaskConfig) -> Task:
    return TASKS.lookup(cfg.name)(cfg)
