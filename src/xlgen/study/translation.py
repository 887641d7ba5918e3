"""The data-translation baselines inside a study (the paper's Figure 2 bars, Tables 2 and 3):

    translation:
      translator: hf:facebook/nllb-200-3.3B    # or parallel:..., as for `xlgen translate`
      train: true               # translate-train: a method of its own, under the same LR protocol as the others
      translate_test: true      # the chosen runs of `base_method`, evaluated with translated inputs and outputs
      translated_outputs: true  # Table 3: the best-English-LR run of `base_method`, outputs translated

* translate-train: before the protocol starts, every task's training files are translated (cached, resumable) into
  `languages` (default: the validation and test languages that are not source languages; translating the validation
  languages too keeps the selection a translate-train one). The method `translate_train` takes `base_method`'s
  entry (so its LR role: full finetuning searches its own LR, with the 3x refinement; the paper grid-searches the LR
  of data translation) and trains on the source data plus its translations (languages sampled uniformly,
  `data.source_sampling`).
* translate-test and translated outputs are evaluations of finished runs, run in the driver process after the
  protocol; each writes `RUN_DIR/translation/<mode>.json` (metrics per language, the translator's fingerprint), which
  the report reads. A finished evaluation with the same translator is not redone.

Translated outputs follow appendix D: among `base_method`'s LR-search runs (first seed, no IT) the one with the best
English score (validation if English is a validation language, else test) has its target-language outputs
translated from the source language; the report sets it against the best-non-English LR (the protocol's PLR).
"""

from __future__ import annotations

import copy
from pathlib import Path

from xlgen.config import AtLeast1, ListOf, typed_config
from xlgen.errors import XlgenError
from xlgen.io import atomic_write_json, read_json

MODES = ("translate-test", "translated-outputs")


@typed_config
class TranslationStudyConfig:
    translator: str
    train: bool = True
    translate_test: bool = True
    translated_outputs: bool = True
    # translate-train languages; None: validation + test languages minus the source languages.
    languages: ListOf[str] | None = None
    method_name: str = "translate_train"
    # The method translate-train starts from, and whose runs translate-test / translated outputs evaluate.
    base_method: str = "full"
    # Translate only the first N records of each training file (questions for SQuAD JSON); None: all.
    max_examples: AtLeast1 | None = None
    cache: str | None = None  # default: $XLGEN_CACHE/translations.sqlite
    num_beams: AtLeast1 = 1
    device: str = "auto"


def add_translate_train(study) -> None:
    """Declare the translate-train method before the protocol is built (the report replays the protocol from
    study.json, so the method must be part of the study as saved). Its entry is `base_method`'s: the same adaptation
    method, so it has that method's LR role (full finetuning: its own search, with the 3x refinement), not the derived
    role of a data strategy; the translated data are added per task by the driver (`Study.task_overrides`)."""
    tc = study.translation
    if tc is None or not tc.train:
        return
    if tc.base_method not in study.methods:
        raise XlgenError(f"translation.base_method: no method {tc.base_method!r} in this study (methods: {', '.join(study.methods)})")
    if tc.method_name in study.methods:
        raise XlgenError(f"translation.method_name: {tc.method_name!r} is already a method of this study; translate-train adds it itself")
    entry = study.methods[tc.base_method]
    if any(str(k).startswith("data") for k in entry):
        raise XlgenError(f"translation.base_method: {tc.base_method!r} changes the training data itself; translate-train needs a plain adaptation method")
    study.methods[tc.method_name] = copy.deepcopy(entry)


def training_languages(study) -> list[str]:
    from xlgen.languages import normalize_language

    tc = study.translation
    sources = {normalize_language(s) for s in study.source_languages}
    langs = tc.languages if tc.languages is not None else [*study.validation_languages, *(study.test_languages or [])]
    out = [normalize_language(lang, context="translation.languages") for lang in langs]
    return [lang for lang in dict.fromkeys(out) if lang not in sources]


def make_cache(tc: TranslationStudyConfig):
    from xlgen.translate.cache import TranslationCache, default_cache_path

    return TranslationCache(tc.cache or default_cache_path())


def translate_training_data(study, study_dir: Path, run_data: dict[str, dict], *, progress: bool = True) -> dict[str, dict]:
    """Translate each task's training files; returns task -> the method overrides of translate-train
    (`data.train` = the source specs plus one spec over the translated files). `run_data[task]` is a resolved run
    config of that task (its data.train and task sections are read)."""
    from xlgen.config import expand_path
    from xlgen.translate import make_translator
    from xlgen.translate.dataset import format_summary, translate_dataset

    tc = study.translation
    langs = training_languages(study)
    if not langs:
        raise XlgenError("translation.languages: no target language to translate the training data into")
    translator = make_translator(tc.translator, device=tc.device, num_beams=tc.num_beams)
    cache = make_cache(tc)
    out: dict[str, dict] = {}
    try:
        for task, data in run_data.items():
            task_cfg = data["task"]
            fmt = "squad" if task_cfg["name"] == "qa" else "jsonl"
            fields = None
            if fmt == "jsonl":
                from xlgen.config import TaskConfig, from_dict
                from xlgen.tasks import get_task

                t = get_task(from_dict(TaskConfig, task_cfg))
                fields = [t.input_field, t.target_field]
            specs = copy.deepcopy(data["data"]["train"])
            new_specs = []
            for i, spec in enumerate(specs):
                if not spec.get("path"):
                    raise XlgenError(f"translation.train: task {task!r} data.train[{i}] is not a local file; translate it with `xlgen translate` and train on the result")
                src_langs = spec.get("languages") or [spec.get("lang")]
                for src in src_langs:
                    path = Path(expand_path(spec["path"], src, spec.get("lang_names") or None))
                    dest = study_dir / "translations" / task / f"{i}-{path.stem}.{{lang}}{path.suffix}"
                    limit = tc.max_examples if tc.max_examples is not None else spec.get("max_examples")  # what is trained on
                    report = translate_dataset(path, src=src, tgts=langs, translator=translator, out=str(dest), fmt=fmt, fields=fields,
                                               cache=cache, max_examples=limit, progress=progress)
                    if progress:
                        print(format_summary(report), flush=True)
                    new_specs.append({**{k: v for k, v in spec.items() if k not in ("path", "lang", "languages")},
                                      "path": str(dest), "lang": None, "languages": langs})
            out[task] = {"data.train": specs + new_specs}
    finally:
        cache.close()
    return out


# ---- evaluations of finished runs -----------------------------------------------------------------------------------


def evaluation_path(run_dir: str | Path, mode: str) -> Path:
    return Path(run_dir) / "translation" / f"{mode}.json"


def evaluate_run(run_dir: str | Path, mode: str, tc: TranslationStudyConfig, source_lang: str, translator, cache, *, progress: bool = True) -> dict:
    """Evaluate a finished run's test set under a translation mode; written to `evaluation_path` and returned."""
    from xlgen.backbones import load_backbone
    from xlgen.config import load_config
    from xlgen.data import load_run_data
    from xlgen.evaluate import summarize
    from xlgen.runtime import resolve_device, resolve_precision
    from xlgen.tasks import get_task
    from xlgen.translate.modes import evaluate_with_translation

    run_dir = Path(run_dir)
    dest = evaluation_path(run_dir, mode)
    if dest.is_file():
        done = read_json(dest)
        if done.get("translator") == translator.fingerprint():
            return done
    cfg = load_config(run_dir / "config.yaml")
    cfg.model.name, cfg.model.init_from = str(run_dir / "model"), None
    cfg.data.dev = None
    device = resolve_device(tc.device)
    task = get_task(cfg.task)
    backbone = load_backbone(cfg.model, device)
    data = load_run_data(cfg, task, backbone, need_train=False)
    results = {}
    for lang, examples in data.test.items():
        metrics, _ = evaluate_with_translation(mode, backbone, backbone.model, examples, task, lang, cfg.generate, translator=translator,
                                               source_lang=source_lang, cache=cache, device=device, precision=resolve_precision("auto", device), progress=progress)
        results[lang] = metrics
    report = {"mode": mode, "translator": translator.fingerprint(), "source_lang": source_lang, "primary_metric": task.primary_metric,
              "test": results, "summary": summarize(results, task.primary_metric)}
    atomic_write_json(dest, report)
    return report


def english_score(results: dict, source_lang: str) -> float | None:
    """A run's source-language score: validation if it has one, else test (appendix D picks the best-English LR)."""
    metric = results.get("primary_metric")
    for split in ("dev_last", "test"):
        m = (results.get(split) or {}).get(source_lang)
        if m and metric in m:
            return float(m[metric])
    return None


def best_english_run(candidates: list[tuple[float, Path]], source_lang: str) -> tuple[float, Path] | None:
    """(lr, run_dir) with the best source-language score among finished runs; ties: the smaller LR."""
    scored = []
    for lr, d in candidates:
        if (d / "results.json").is_file():
            s = english_score(read_json(d / "results.json"), source_lang)
            if s is not None:
                scored.append((-s, lr, d))
    return (min(scored)[1], min(scored)[2]) if scored else None


def run_evaluations(study, protocol, job_for, *, progress: bool = True) -> list[str]:
    """translate-test on the chosen runs of `base_method` (every seed), translated outputs on its best-English-LR run
    (first seed, no IT); returns the run directories evaluated."""
    from xlgen.languages import normalize_language
    from xlgen.study.protocol import RunKey
    from xlgen.translate import make_translator

    tc = study.translation
    if tc is None or not (tc.translate_test or tc.translated_outputs):
        return []
    source = normalize_language(study.source_languages[0])
    translator = make_translator(tc.translator, device=tc.device, num_beams=tc.num_beams)
    cache = make_cache(tc)
    evaluated = []
    try:
        for (model, task, method), sel in protocol.selected().items():
            if method != tc.base_method:
                continue
            if tc.translate_test and sel["lr"] is not None:
                for seed in sel["seeds"]:
                    d = Path(job_for(RunKey(model, task, method, sel["lr"], sel["it"], seed)).run_dir)
                    if (d / "results.json").is_file():
                        evaluate_run(d, "translate-test", tc, source, translator, cache, progress=progress)
                        evaluated.append(str(d))
            if tc.translated_outputs:
                seed0 = study.seeds[0]
                keys = [k for k in protocol.results if (k.model, k.task, k.method, k.it, k.seed) == (model, task, method, False, seed0)]
                best = best_english_run([(k.lr, Path(job_for(k).run_dir)) for k in keys], source)
                if best is not None:
                    evaluate_run(best[1], "translated-outputs", tc, source, translator, cache, progress=progress)
                    evaluated.append(str(best[1]))
    finally:
        cache.close()
    return evaluated
