"""The datasets a run names, read and checked before any model loads or trains, so a mistake costs seconds."""

from __future__ import annotations

from dataclasses import dataclass

from xlgen.backbones import Backbone
from xlgen.config import RunConfig
from xlgen.errors import XlgenError
from xlgen.languages import normalize_language
from xlgen.tasks import Example, Task


@dataclass
class RunData:
    train: list[Example]
    dev: dict[str, list[Example]]
    test: dict[str, list[Example]]


def spec_languages(spec, field: str) -> list[str]:
    """The languages a dataset or raw-text spec names (`lang` or `languages`), as canonical tags."""
    langs = list(spec.languages) or ([spec.lang] if spec.lang else [])
    if not langs:
        raise XlgenError(f"{field}: name the language(s) with `lang` or `languages`")
    sources = [s for s in (spec.path, spec.hf, spec.hf_config) if s]
    if len(langs) > 1 and sources and not any("{lang}" in s or "{name}" in s for s in sources):
        # Each language would read the same file and be scored as that language (German text as Chinese).
        raise XlgenError(f"{field}: {len(langs)} languages ({', '.join(langs)}) but {sources[0]!r} has no {{lang}} or {{name}}: "
                         "every language would read the same data; put {lang} where the file names differ")
    return [normalize_language(lang, context=field) for lang in langs]


def run_languages(cfg: RunConfig, *, need_train: bool = True) -> dict[str, list]:
    """Every language the run names, validated: checked before the model loads, so a typo costs no waiting."""
    if need_train and not cfg.data.train:
        raise XlgenError("data.train: no training data given")
    langs = {"train": [spec_languages(s, f"data.train[{i}]") for i, s in enumerate(cfg.data.train)] if need_train else []}
    for split in ("dev", "test"):
        spec = getattr(cfg.data, split)
        langs[split] = spec_languages(spec, f"data.{split}") if spec else []
    return langs


def load_run_data(cfg: RunConfig, task: Task, backbone: Backbone | None = None, *, need_train: bool = True) -> RunData:
    """Read and check every dataset and language before any training starts, so mistakes cost seconds, not hours."""
    langs = run_languages(cfg, need_train=need_train)
    if backbone is not None:
        for lang in {lang for group in langs["train"] for lang in group} | set(langs["dev"]) | set(langs["test"]):
            backbone.check_language(lang)
    train: list[Example] = []
    for spec, group in zip(cfg.data.train if need_train else [], langs["train"]):
        for lang in group:
            train.extend(task.load(spec, lang))
    dev = {lang: task.load(cfg.data.dev, lang, evaluation=True) for lang in langs["dev"]}
    test = {lang: task.load(cfg.data.test, lang, evaluation=True) for lang in langs["test"]}
    return RunData(train, dev, test)
