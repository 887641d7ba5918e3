"""Any JSONL input -> target task, and summarization in XL-Sum JSONL format (fields `text` and `summary`)."""

from __future__ import annotations

from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.io import iter_jsonl, require_field
from xlgen.metrics.base import METRICS
from xlgen.tasks.base import Example, Task, register_task


@register_task("jsonl")
class JsonlTask(Task):
    instruction = "Output"
    default_max_new_tokens = 128
    default_input_field: str | None = None
    default_target_field: str | None = None
    default_metric = "rouge"

    @property
    def input_field(self) -> str:
        f = self.cfg.input_field or self.default_input_field
        if not f:
            raise XlgenError(f"task.input_field: required for task '{self.name}' (the JSONL field holding the input)")
        return f

    @property
    def target_field(self) -> str:
        f = self.cfg.target_field or self.default_target_field
        if not f:
            raise XlgenError(f"task.target_field: required for task '{self.name}' (the JSONL field holding the target)")
        return f

    @property
    def metric(self) -> str:  # type: ignore[override]
        m = self.cfg.metric or self.default_metric
        if METRICS.lookup(m).diagnostic:
            raise XlgenError(f"task.metric: {m!r} is computed for every task; name the task's own metric (e.g. rouge, squad)")
        return m

    def _example(self, obj: dict, n: int, lang: str, path, lineno) -> Example:
        text = require_field(obj, self.input_field, path, lineno)
        target = obj.get(self.target_field, "")
        if target is None:
            target = ""
        if not isinstance(target, (str, list)):
            require_field(obj, self.target_field, path, lineno)  # raises with the type named
        refs = [target] if isinstance(target, str) else [str(t) for t in target]
        return Example(id=str(obj.get(self.cfg.id_field, n)), lang=lang, input=text.strip(), target=refs[0] if refs else "", references=refs)

    def load_file(self, path: Path, lang: str) -> list[Example]:
        examples = []
        self.input_field  # noqa: B018  (a missing field name is reported before the file is read)
        for n, (lineno, obj) in enumerate(iter_jsonl(path)):
            if self.target_field not in obj:
                require_field(obj, self.target_field, path, lineno)
            examples.append(self._example(obj, n, lang, path, lineno))
        return examples

    def load_hf(self, records, source: str, lang: str) -> list[Example]:
        return [self._example(dict(r), n, lang, source, n) for n, r in enumerate(records)]

    def read_references(self, path: Path, lang: str) -> dict[str, list[str]]:
        """Only ids and targets are read: the inputs of another system's test set are not needed to score it."""
        refs = {}
        for lineno, obj in iter_jsonl(path):
            rid = require_field(obj, self.cfg.id_field, path, lineno, (str, int))
            ref = require_field(obj, self.target_field, path, lineno, (str, list))
            refs[str(rid)] = [ref] if isinstance(ref, str) else [str(r) for r in ref]
        return refs


@register_task("summarization")
class SummarizationTask(JsonlTask):
    instruction = "Summary"
    default_max_new_tokens = 128
    default_input_field = "text"
    default_target_field = "summary"
