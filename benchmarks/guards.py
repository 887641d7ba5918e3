"""Language guards on the embedded model: guard x learning rate x language -> XQuAD F1 with a 95% bootstrap interval,
language-correct rate, and generation time relative to unguarded decoding. Writes `docs/guards.md`.

    flock /tmp/xlgen-heavy.lock python benchmarks/guards.py          # trains the two runs if missing, then evaluates
    python benchmarks/guards.py --render                              # rewrite docs/guards.md from the saved results

The two models are the demo's (configs/demo.yaml: Gemma-3-270M fully finetuned for 30 steps on English QA) at 1e-4,
where it often answers in the wrong language, and at 1e-5, its best learning rate in the demo. Questions are XQuAD's
after the paper's filter, drawn as whole paragraphs (seeded; the same paragraphs in every language as far as the
filter allows), so the decoder-only path still shares each paragraph across its questions, as in real evaluation.

Guard settings are chosen before the table is made, on a language the table does not report (XQuAD
Romanian, one of the paper's validation languages), never on the reported languages.

Per-example F1 and language-correct flags are saved (benchmarks/results/guards.json) so intervals can be recomputed:
xlgen.metrics.bootstrap (percentile bootstrap over questions, 1000 resamples, seed 0; averages over languages resample
within each language; differences to unguarded decoding are paired, the same questions resampled for both). The
intervals cover the choice of questions, not training randomness (one training seed per LR). Times: each (LR, language) runs every guard back to back in one process, unguarded first;
the speed ratio is total guarded time over total unguarded time across languages.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from xlgen.metrics.bootstrap import average_interval, mean_interval, paired_average_difference, paired_difference  # noqa: E402

LRS = (1e-4, 1e-5)
# XQuAD's target languages of the demo (English, the source, is left out: the goal concerns the targets).
LANGS = ("de", "es", "ru", "zh", "ar", "hi", "th", "vi")
# "@wrong": the reranker only for inputs whose plain output is in another language (generate.guard_options.rerank_when)
GUARDS = ("none", "span", "script", "prior", "rerank", "span+rerank", "rerank@wrong", "span+rerank@wrong")
TUNE_LANG = "ro"
# One language, two knobs, each tuned with the guard it serves: the prior's strength, and how many first tokens the
# reranker branches on, with the span guard (the combination the goal is met with, if any; under it the output layer
# computes only the paragraph's tokens, xlgen.guards.head, which is what makes more candidates affordable). The
# reranker's weight stays at the default 1: on the 48 German questions of a diagnostic run,
# benchmarks/guards_replay.py, w from 1 to 8 moved LCR by at most one question.
TUNE = {"prior_strength": ("prior", (0.5, 1.0, 2.0, 4.0)), "rerank_candidates": ("span+rerank", (3, 4, 5, 6, 8))}
RESULTS = REPO / "benchmarks" / "results" / "guards.json"
DOC = REPO / "docs" / "guards.md"
GOAL_LCR, GOAL_SPEED = 95.0, 1.5
NOTES_MARKER = "<!-- hand-written notes below: kept by --render -->"


# ---- runs and data ------------------------------------------------------------------------------------------------


def run_overrides(lr: float, runs: Path) -> list[str]:
    # The run's own final test evaluation is cut to 16 English questions: this script evaluates separately. fp32, as
    # the committed results were made (the demo itself now trains with `precision: native`, bf16 on this machine).
    return [f"train.lr={lr}", f"output_dir={runs / f'lr{lr:g}'}", "data.test.languages=[en]", "data.test.max_examples=16",
            "train.precision=fp32"]


def ensure_run(lr: float, runs: Path) -> Path:
    from xlgen.config import load_config
    from xlgen.train import train

    run_dir = runs / f"lr{lr:g}"
    if (run_dir / "results.json").exists():
        return run_dir
    if (run_dir / "config.yaml").exists():
        train(resume_dir=run_dir, progress=False)
    else:
        train(load_config(REPO / "configs" / "demo.yaml", run_overrides(lr, runs)), progress=False)
    return run_dir


def sample_questions(task, lang: str, n: int, seed: int) -> list:
    """XQuAD questions kept by the paper's filter, whole paragraphs at a time in a seeded order, until n. XQuAD's
    files share their structure and question ids across languages, so one shuffle picks the same paragraphs."""
    from xlgen.config import DatasetSpec, expand_path
    from xlgen.io import read_json

    pattern = "${XLGEN_DATA}/xquad/xquad.{lang}.json"
    doc = read_json(expand_path(pattern, lang))
    para_of = {qa["id"]: (i, j) for i, art in enumerate(doc["data"]) for j, para in enumerate(art["paragraphs"]) for qa in para["qas"]}
    groups: dict[tuple[int, int], list] = {}
    for ex in task.load(DatasetSpec(path=pattern), lang, evaluation=True):
        groups.setdefault(para_of[ex.id], []).append(ex)
    keys = sorted(set(para_of.values()))
    random.Random(seed).shuffle(keys)
    picked = []
    for key in keys:
        picked += groups.get(key, [])
        if len(picked) >= n:
            break
    return picked[:n]


# ---- evaluation ---------------------------------------------------------------------------------------------------


def per_example(task, examples, generations, lang: str) -> dict:
    """Per question: F1 under the headline metric profile and whether the output is in `lang`, as xlgen scores them."""
    preds = [g.prediction for g in generations]
    row, scores = task.score_examples(preds, [ex.references for ex in examples], lang)
    f1 = [s[row["profile"]]["f1"] for s in scores]
    return {"f1": [round(x, 2) for x in f1], "lc": [int(s["lang_correct"] > 0) for s in scores], "len": [len(p) for p in preds],
            "pred": preds, "gold": [ex.references[0] for ex in examples], "profile": row["profile"]}


def guard_config(base, spec: str, options: dict):
    import copy

    from xlgen.guards import guard_names

    gen = copy.deepcopy(base)
    spec, _, when = spec.partition("@")  # "span+rerank@wrong": rerank_when=wrong
    gen.guard = guard_names(spec)
    if when:
        gen.guard_options.rerank_when = when
    for k, v in options.items():
        setattr(gen.guard_options, k, v)
    return gen


def evaluate_cells(run_dir: Path, langs, guards, options: dict, n: int, seed: int, store: dict, key_prefix: str, save,
                   default_options: dict | None = None) -> None:
    """Evaluate every (guard, language) not yet in `store["cells"]`, saving after each."""
    from xlgen.backbones import load_backbone
    from xlgen.cli import _model_config_for
    from xlgen.evaluate import generate
    from xlgen.guards import build_guards
    from xlgen.tasks import get_task

    from xlgen.config import TaskConfig

    # A saved cell is reused only for the very questions and guard options asked now: keys name no size, seed or option,
    # so a run with another --n, --tune-n, --seed or tuned option recomputes its cells instead of mixing them. Cells
    # saved before options were recorded carry the options of their results file (`default_options`).
    data = {lang: sample_questions(get_task(TaskConfig(name="qa", xquad_filter=True)), lang, n, seed) for lang in langs}

    def done(key: str, lang: str) -> bool:
        cell = store["cells"].get(key)
        return (cell is not None and cell["ids"] == [ex.id for ex in data[lang]]
                and cell.get("options", default_options) == options)

    todo = [(lang, g) for lang in langs for g in guards if not done(f"{key_prefix}|{g}|{lang}", lang)]
    if not todo:
        return
    if str(run_dir) not in _LOADED:
        _LOADED.clear()  # one model in memory at a time
        cfg = _model_config_for(str(run_dir))
        cfg.task.xquad_filter = True
        task = get_task(cfg.task)
        _LOADED[str(run_dir)] = (cfg, task, load_backbone(cfg.model, "cpu"))
    cfg, task, backbone = _LOADED[str(run_dir)]
    t0 = time.perf_counter()
    for lang in langs:  # one-time tables (vocabulary texts, script masks, span tables, prior counts), timed apart
        for g in guards:
            build_guards(guard_config(cfg.generate, g, options), backbone, task, lang)
    store["setup_s"][key_prefix] = time.perf_counter() - t0
    generate(backbone, backbone.model, data[langs[0]][:4], task, langs[0], cfg.generate, progress=False)  # warm-up, untimed
    for lang in langs:
        for g in guards:
            key = f"{key_prefix}|{g}|{lang}"
            if done(key, lang):
                continue
            gen = guard_config(cfg.generate, g, options)
            t = time.perf_counter()
            gens = generate(backbone, backbone.model, data[lang], task, lang, gen, progress=False)
            elapsed = time.perf_counter() - t
            cell = per_example(task, data[lang], gens, lang)
            store["cells"][key] = {"time_s": elapsed, "n": len(gens), "ids": [ex.id for ex in data[lang]], "options": dict(options), **cell}
            print(f"[guards] {key}: F1 {np.mean(cell['f1']):.1f} LCR {100 * np.mean(cell['lc']):.0f}% {elapsed:.1f}s", flush=True)
            save()


_LOADED: dict = {}


def load_results(path: Path, meta: dict, afresh: bool = False) -> dict:
    fresh = {"meta": meta, "cells": {}, "setup_s": {}, "tuning": {"cells": {}, "setup_s": {}}}
    if path.exists() and not afresh:
        res = json.loads(path.read_text())
        if res.get("meta", {}).get("n") == meta["n"] and res["meta"].get("seed") == meta["seed"]:
            return res
        print(f"[guards] {path}: other sizes (n, seed); evaluating afresh (the tuning is kept)", flush=True)
        if res.get("meta", {}).get("seed") == meta["seed"]:
            fresh["tuning"] = res.get("tuning", fresh["tuning"])
    return fresh


def saver(path: Path, results: dict):
    from xlgen.io import atomic_write_json

    return lambda: atomic_write_json(path, results)


# ---- tuning on a held-out language ---------------------------------------------------------------------------------


def tune(run_dir: Path, n: int, seed: int, results: dict, save) -> dict:
    """Each tunable option over its grid on XQuAD-ro at 1e-4 (the LR with wrong-language answers). The goal asks for the
    right language without losing task quality or time, so the choice is the highest language-correct rate among the
    values whose F1 is not below unguarded decoding (the paired ΔF1 point estimate is at least 0) and whose time is
    within the goal's GOAL_SPEED x unguarded (same process, back to back); none qualifying: the smallest value. An
    earlier rule took any value whose ΔF1 interval merely reached 0; on 24 questions that let through a strength that
    cost 11-16 F1 on the reported languages."""
    chosen = {}
    store = results["tuning"]
    _rescore(store, n, seed)
    evaluate_cells(run_dir, (TUNE_LANG,), ("none",), {}, n, seed, store, "tune|base", save, default_options={})
    for option, (guard, grid) in TUNE.items():
        for value in grid:
            evaluate_cells(run_dir, (TUNE_LANG,), (guard,), {option: value}, n, seed, store, f"tune|{option}={value}", save,
                           default_options={option: value})
        base = store["cells"][f"tune|base|none|{TUNE_LANG}"]
        rows = []
        for value in grid:
            c = store["cells"][f"tune|{option}={value}|{guard}|{TUNE_LANG}"]
            ok = paired_difference(c["f1"], base["f1"]).estimate >= 0 and c["time_s"] <= GOAL_SPEED * base["time_s"]
            rows.append((value, ok, 100.0 * float(np.mean(c["lc"]))))
        eligible = [r for r in rows if r[1]]
        chosen[option] = max(eligible, key=lambda r: (r[2], -r[0]))[0] if eligible else min(grid)
    results["tuning"]["chosen"] = chosen
    results["tuning"]["n"] = n
    save()
    return chosen


def _rescore(store: dict, n: int, seed: int) -> None:
    """Cells saved by an older scorer (no metric profile recorded) are scored again from their saved outputs."""
    from types import SimpleNamespace

    from xlgen.config import TaskConfig
    from xlgen.tasks import get_task

    old = [k for k, c in store["cells"].items() if "profile" not in c]
    if not old:
        return
    task = get_task(TaskConfig(name="qa", xquad_filter=True))
    examples = sample_questions(task, TUNE_LANG, n, seed)
    for k in old:
        c = store["cells"][k]
        if c["ids"] != [ex.id for ex in examples]:
            continue  # another tuning size: evaluate_cells recomputes it
        c.update(per_example(task, examples, [SimpleNamespace(prediction=p) for p in c["pred"]], TUNE_LANG))


# ---- rendering ------------------------------------------------------------------------------------------------------


def cell_stats(results: dict, lr_key: str, lang: str, guards) -> dict:
    """Per guard: F1 and LCR with their intervals, and the paired F1 difference to unguarded decoding."""
    cells = {g: results["cells"][f"{lr_key}|{g}|{lang}"] for g in guards}
    base = cells[guards[0]]["f1"]
    return {g: {"f1": mean_interval(c["f1"]), "df1": paired_difference(c["f1"], base), "lcr": mean_interval([100.0 * x for x in c["lc"]]),
                "time": c["time_s"], "n": c["n"], "len": float(np.mean(c["len"]))} for g, c in cells.items()}


def pooled(results: dict, lr_key: str, langs, guards) -> dict:
    """Target-language averages (the mean of per-language means) with stratified intervals, and the paired difference
    of the F1 average to unguarded decoding."""
    def per_lang(g, field, scale=1.0):
        return {lang: [scale * x for x in results["cells"][f"{lr_key}|{g}|{lang}"][field]] for lang in langs}

    base = per_lang(guards[0], "f1")
    return {"f1": {g: average_interval(per_lang(g, "f1")) for g in guards},
            "df1": {g: paired_average_difference(per_lang(g, "f1"), base) for g in guards},
            "lcr": {g: average_interval(per_lang(g, "lc", 100.0)) for g in guards}}


def examples_section(results: dict, lr: float, guards, langs, per_lang: int = 3) -> list[str]:
    """The first questions of a few languages at the wrong-language LR: gold answer and each guard's output."""
    key = f"{lr:g}"
    lines = ["", f"## Examples (LR {key}, the first {per_lang} questions of de, ru, zh)", "", "| lang | gold | " + " | ".join(guards) + " |",
             "|---" * (len(guards) + 2) + "|"]
    for lang in [x for x in ("de", "ru", "zh") if x in langs]:
        cells = [results["cells"][f"{key}|{g}|{lang}"] for g in guards]
        for i in range(min(per_lang, len(cells[0]["pred"]))):
            row = [lang, cells[0]["gold"][i], *[c["pred"][i] or "(empty)" for c in cells]]
            lines.append("| " + " | ".join(" ".join(str(x).split()).replace("|", "\\|") for x in row) + " |")
    return lines


def fmt(x, digits: int = 1) -> str:
    return format(x, f".{digits}f")


def render(results: dict, doc: Path, results_path: Path = RESULTS) -> str:
    meta = results["meta"]
    results_name = _repo_relative(results_path)
    render_args = "" if (results_path, doc) == (RESULTS, DOC) else f" --results {results_name} --doc {_repo_relative(doc)}"
    guards, langs = meta["guards"], meta["langs"]
    targets = [lang for lang in langs if lang != "en"]  # en, when asked for, is shown but not in the averages
    setup = ", ".join(f"LR {k}: {v:.0f}s" for k, v in results["setup_s"].items())
    profile = next(iter(results["cells"].values())).get("profile", "paper")
    lines = [
        "# Language-guarded generation: the right language without retraining",
        "",
        f"Produced by `flock /tmp/xlgen-heavy.lock {meta.get('command', 'python benchmarks/guards.py')}` (results: `{results_name}`;",
        f"`python benchmarks/guards.py --render{render_args}` rewrites this page from them). Numbers are as measured; nothing is edited by hand.",
        "",
        "## Setup",
        "",
        "- model: the embedded Gemma-3-270M fully finetuned as in `configs/demo.yaml` but in fp32 (30 steps of at most",
        f"  1000 tokens on English QA), at learning rates {', '.join(f'{lr:g}' for lr in meta['lrs'])}; one training seed each",
        f"- XQuAD after the paper's filter, {meta['n']} questions per language (whole paragraphs, seed {meta['seed']}), greedy decoding,",
        f"  at most {meta['max_new_tokens']} new tokens, on {meta['device']}",
        f"- guard options: {json.dumps(meta['options'])} (chosen on XQuAD-{TUNE_LANG} at 1e-4, see Tuning)",
        f"- F1: SQuAD F1 (xlgen's scorer, metric profile '{profile}'), mean [95% bootstrap interval over questions];",
        "  ΔF1: paired difference to unguarded decoding on the same questions; LCR: language-correct rate (fastText lid.176), %",
        f"- speed: total generation time over all {len(langs)} languages relative to unguarded decoding of the same model in",
        f"  the same process (one-time tables excluded; they took {setup})",
        f"- goal (issue 15): LCR ≥ {GOAL_LCR:.0f}% for every target language, F1 not lower than unguarded, ≤ {GOAL_SPEED}× the time.",
        "  'F1 not lower' is read as: the paired ΔF1 interval of the target average does not lie below 0",
        "",
        "## Summary (target languages: " + ", ".join(targets) + ")",
        "",
        "| LR | guard | avg F1 | ΔF1 vs none | avg LCR | min LCR (lang) | speed | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    per_lr = {}
    for lr in meta["lrs"]:
        key = f"{lr:g}"
        pool = pooled(results, key, targets, guards)
        stats = {lang: cell_stats(results, key, lang, guards) for lang in langs}
        per_lr[key] = stats
        base_time = sum(stats[lang]["none"]["time"] for lang in langs)
        for g in guards:
            speed = sum(stats[lang][g]["time"] for lang in langs) / base_time
            worst = min(targets, key=lambda lang: stats[lang][g]["lcr"].estimate)
            min_lcr = stats[worst][g]["lcr"].estimate
            ok_lcr = all(stats[lang][g]["lcr"].estimate >= GOAL_LCR for lang in targets)
            ok_f1 = pool["df1"][g].high >= 0
            ok_speed = speed <= GOAL_SPEED
            goal = "n/a" if g == "none" else ("met" if ok_lcr and ok_f1 and ok_speed else "not met: " + ", ".join(
                w for w, ok in (("LCR", ok_lcr), ("F1", ok_f1), ("speed", ok_speed)) if not ok))
            lines.append(f"| {key} | {g} | {fmt(pool['f1'][g])} | {fmt(pool['df1'][g]) if g != 'none' else '—'} | {pool['lcr'][g].estimate:.1f} | "
                         f"{min_lcr:.1f} ({worst}) | {speed:.2f}× | {goal} |")
    for lr in meta["lrs"]:
        key = f"{lr:g}"
        stats = per_lr[key]
        lines += ["", f"## LR {key}: F1 per language, mean [95% interval]", "", "| guard | " + " | ".join(langs) + " |", "|---" * (len(langs) + 1) + "|"]
        for g in guards:
            lines.append(f"| {g} | " + " | ".join(fmt(stats[lang][g]["f1"]) for lang in langs) + " |")
        lines += ["", f"## LR {key}: language-correct rate per language (%)", "", "| guard | " + " | ".join(langs) + " |", "|---" * (len(langs) + 1) + "|"]
        for g in guards:
            lines.append(f"| {g} | " + " | ".join(f"{stats[lang][g]['lcr'].estimate:.0f}" for lang in langs) + " |")
        lines += ["", f"## LR {key}: generation time relative to unguarded, per language", "",
                  "| guard | " + " | ".join(langs) + " |", "|---" * (len(langs) + 1) + "|"]
        for g in guards:
            lines.append(f"| {g} | " + " | ".join(f"{stats[lang][g]['time'] / stats[lang]['none']['time']:.2f}" for lang in langs) + " |")
    lines += examples_section(results, meta["lrs"][0], guards, targets)
    tuning = results.get("tuning", {})
    if tuning.get("chosen"):
        lines += ["", f"## Tuning (XQuAD-{TUNE_LANG}, LR 1e-4, {tuning.get('n')} questions; not a reported language)", "",
                  "| option | value | F1 | ΔF1 vs unguarded | LCR | time vs unguarded | F1 unguarded | LCR unguarded |", "|---|---|---|---|---|---|---|---|"]
        cells = tuning["cells"]
        for option, (guard, grid) in TUNE.items():
            for value in grid:
                # Results made before the candidates were tuned under the span guard tuned them with the reranker alone.
                found = [g for g in (guard, "rerank") if f"tune|{option}={value}|{g}|{TUNE_LANG}" in cells]
                if not found:
                    continue  # an option or value tuned only since these results were made
                c, b = cells[f"tune|{option}={value}|{found[0]}|{TUNE_LANG}"], cells[f"tune|base|none|{TUNE_LANG}"]
                mark = " (chosen)" if tuning["chosen"].get(option) == value else ""
                lines.append(f"| {option} ({found[0]}) | {value:g}{mark} | {np.mean(c['f1']):.1f} | {fmt(paired_difference(c['f1'], b['f1']))} | "
                             f"{100 * np.mean(c['lc']):.0f} | {c['time_s'] / b['time_s']:.2f}× | {np.mean(b['f1']):.1f} | {100 * np.mean(b['lc']):.0f} |")
    text = "\n".join(lines) + "\n"
    # A hand-written reading of the numbers may follow the marker; it survives re-rendering.
    if doc.exists() and NOTES_MARKER in doc.read_text(encoding="utf-8"):
        text += "\n" + NOTES_MARKER + doc.read_text(encoding="utf-8").split(NOTES_MARKER, 1)[1]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    return text


def _repo_relative(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# ---- main ---------------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="questions per language")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--langs", default=",".join(LANGS))
    ap.add_argument("--guards", default=",".join(GUARDS), help="comma-separated guard settings (each may be a+b); the first must be none")
    ap.add_argument("--lrs", default=",".join(f"{lr:g}" for lr in LRS))
    ap.add_argument("--runs", default=str(REPO / "runs" / "guards"))
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--tune-n", type=int, default=50, help="questions of the tuning language")
    ap.add_argument("--no-tune", action="store_true", help="use the saved (or default) guard options")
    ap.add_argument("--tuning-from", metavar="RESULTS",
                    help="start from the tuning cells of another results file (same --seed and --tune-n), so a larger "
                         "--n for the table does not tune again")
    ap.add_argument("--render", action="store_true", help="only rewrite the doc from the saved results")
    ap.add_argument("--fresh", action="store_true",
                    help="tune and evaluate every cell again, ignoring the saved ones (needed after a code change: saved cells are "
                         "reused whenever their questions and options match). The results file is replaced as cells finish; "
                         "resume an interrupted fresh run without --fresh")
    args = ap.parse_args()
    path = Path(args.results)
    if args.render:
        print(render(json.loads(path.read_text()), Path(args.doc), path))
        return
    from xlgen.config import load_config

    langs, guards = tuple(args.langs.split(",")), tuple(args.guards.split(","))
    if guards[0] != "none":
        raise SystemExit("--guards: the first setting must be none (the baseline every ratio refers to)")
    lrs = tuple(float(x) for x in args.lrs.split(","))
    runs = Path(args.runs)
    t0 = time.time()
    meta = {"n": args.n, "seed": args.seed, "langs": list(langs), "guards": list(guards), "lrs": list(lrs),
            "max_new_tokens": None, "device": _device(), "options": {}}
    results = load_results(path, meta, args.fresh)
    if args.tuning_from and not results["tuning"]["cells"]:
        other = json.loads(Path(args.tuning_from).read_text())
        if other["meta"].get("seed") != args.seed:
            raise SystemExit(f"--tuning-from {args.tuning_from}: tuned with seed {other['meta'].get('seed')}, not {args.seed}")
        results["tuning"] = other["tuning"]
    saved_options = results["meta"].get("options") or {}  # what the saved cells were made with
    results["meta"].update({k: meta[k] for k in ("langs", "guards", "lrs", "device")})
    results["meta"]["command"] = " ".join(["python", "benchmarks/guards.py", *sys.argv[1:]])
    save = saver(path, results)
    run_dirs = {lr: ensure_run(lr, runs) for lr in lrs}
    results["meta"]["max_new_tokens"] = load_config(run_dirs[lrs[0]] / "config.yaml").generate.max_new_tokens
    options = results["tuning"].get("chosen") or {}
    if not args.no_tune and 1e-4 in run_dirs:  # evaluated tuning cells are kept; the choice is recomputed from them
        options = tune(run_dirs[1e-4], args.tune_n, args.seed, results, save)
    results["meta"]["options"] = options
    for lr in lrs:
        evaluate_cells(run_dirs[lr], langs, guards, options, args.n, args.seed, results, f"{lr:g}", save, default_options=saved_options)
    results["meta"]["wall_s_last_invocation"] = time.time() - t0
    save()
    print(render(results, Path(args.doc), path))


def _device() -> str:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU ({cpu}, {os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
