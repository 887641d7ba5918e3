"""`make bench`: every benchmark, each in its own process, then BENCHMARKS.md and benchmarks/results/latest.json.

    python benchmarks/run_all.py            # the CPU set (embedded Gemma-3-270M, a mid-size random mT5)
    python benchmarks/run_all.py --quick    # fewer repetitions and examples, for a smoke test
    python benchmarks/run_all.py --render   # only rewrite BENCHMARKS.md from benchmarks/results/*.json

On a GPU, `benchmarks/bench_gpu.py` adds mT5-base- and mBART-shaped random models in bf16 (tokens/s and MFU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"


def run(script: str, *args: str) -> None:
    cmd = [sys.executable, str(HERE / script), *args]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def fmt(s: dict, digits: int = 1) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def render() -> None:
    latest: dict = {}
    lines = ["# Benchmarks", "", "Produced by `make bench` (`benchmarks/run_all.py`); raw numbers in `benchmarks/results/*.json`.",
             "Each comparison runs in one process, alternating contenders; medians with (min–max) over repetitions.", ""]
    for name, label in (("train_embedded", "embedded Gemma-3-270M"), ("train_midsize-mt5", "mid-size random mT5 (d=256, 4+4 layers)")):
        r = load(name)
        if not r:
            continue
        lines += [f"## Training throughput: {label}", "",
                  f"{r['device']}, {r['precision']}; {r['examples']} English QA examples ({r['real_tokens']} real tokens, {r['target_tokens']} target tokens) per epoch, "
                  f"{r['optimizer_steps']} optimizer steps: xlgen token budget {r['xlgen_max_tokens']} vs Trainer batch size {r['trainer_batch_size']} (padding to the longest).", "",
                  "| | xlgen | Trainer | ratio |", "|---|---|---|---|",
                  f"| target tokens/s | {fmt(r['target_tokens_per_s']['xlgen'])} | {fmt(r['target_tokens_per_s']['trainer'])} | **{r['speedup']:.2f}×** |",
                  f"| all tokens/s | {fmt(r['tokens_per_s']['xlgen'])} | {fmt(r['tokens_per_s']['trainer'])} | |",
                  f"| peak memory (MiB) | {fmt(r['peak_memory_mib']['xlgen'], 0)} | {fmt(r['peak_memory_mib']['trainer'], 0)} | |", "",
                  f"Memory: {r['memory_note']}.", ""]
        key = "train_speedup_vs_trainer" if name == "train_embedded" else f"train_speedup_vs_trainer_{name.split('_', 1)[1]}"
        latest[key] = {"value": r["speedup"], "model": r["model"], "device": r["device"]}
    r = load("train_embedded_compile")
    if r:
        s = r["seconds"]
        lines += ["## torch.compile (`train.compile: true`): embedded Gemma-3-270M", "",
                  f"{r['device']}, {r['precision']}; the training benchmark above with a third contender, xlgen's step with its loss compiled "
                  f"(inductor, dynamic shapes); {r['examples']} examples, {r['optimizer_steps']} optimizer steps per epoch, {s['xlgen']['n']} timed epochs after a warm-up epoch.", "",
                  "| | seconds per epoch | peak memory (MiB) |", "|---|---|---|",
                  f"| xlgen | {fmt(s['xlgen'])} | {fmt(r['peak_memory_mib']['xlgen'], 0)} |",
                  f"| xlgen + torch.compile | {fmt(s['xlgen+compile'])} | {fmt(r['peak_memory_mib']['xlgen+compile'], 0)} |",
                  f"| Trainer | {fmt(s['trainer'])} | {fmt(r['peak_memory_mib']['trainer'], 0)} |", "",
                  f"Compiled vs eager, once compiled: **{r['compile_speedup_vs_eager']:.2f}×**; the warm-up epoch that compiles took "
                  f"{r['compile_warmup_epoch_s']:.0f} s. Per step that is {s['xlgen']['median'] / r['optimizer_steps']:.1f} s eager vs "
                  f"{s['xlgen+compile']['median'] / r['optimizer_steps']:.1f} s compiled, so compiling pays for itself after about "
                  f"{r['compile_warmup_epoch_s'] / max(1e-9, (s['xlgen']['median'] - s['xlgen+compile']['median']) / r['optimizer_steps']):.0f} steps on this machine: "
                  "a gain for the paper's 20k-step runs, a loss for short ones (hence off by default).", ""]
        latest["train_compile_speedup_vs_eager"] = {"value": r["compile_speedup_vs_eager"], "compile_seconds": r["compile_warmup_epoch_s"], "model": r["model"], "device": r["device"]}
    for name, label in (("generate_embedded", "embedded Gemma-3-270M"), ("generate_midsize-mt5", "mid-size random mT5")):
        r = load(name)
        if not r:
            continue
        lines += [f"## XQuAD evaluation pass: {label}", "",
                  f"{r['device']}, {r['precision']}; {r['questions']} questions of XQuAD-{r['lang']}, greedy, at most {r['max_new_tokens']} new tokens; "
                  f"outputs identical to the per-example loop: **{r['identical_to_loop']}**.", "",
                  "| | questions/s | seconds |", "|---|---|---|"]
        for k, v in r["questions_per_s"].items():
            lines.append(f"| {k} | {fmt(v, 2)} | {fmt(r['seconds'][k])} |")
        lines += ["", f"xlgen vs per-example `generate` loop: **{r['speedup_vs_loop']:.2f}×**" + (f"; vs `pipeline`: **{r['speedup_vs_pipeline']:.2f}×**" if "speedup_vs_pipeline" in r else ""), ""]
        key = "eval_speedup_vs_generate_loop" if name == "generate_embedded" else f"eval_speedup_vs_generate_loop_{name.split('_', 1)[1]}"
        latest[key] = {"value": r["speedup_vs_loop"], "model": r["model"], "device": r["device"], "identical": r["identical_to_loop"]}
        if "speedup_vs_pipeline" in r:
            latest[key.replace("generate_loop", "pipeline")] = {"value": r["speedup_vs_pipeline"], "model": r["model"], "device": r["device"]}
    r = load("scoring")
    if r:
        lines += ["## Language identification and scoring", "", "| set | items/s |", "|---|---|"]
        lines += [f"| {k} | {fmt(v, 0)} |" for k, v in r["items_per_s"].items()]
        lines.append("")
        latest["scoring_items_per_s"] = {k: v["median"] for k, v in r["items_per_s"].items()}
    r = load("trim_embedded")
    if r:
        lines += ["## Vocabulary trimming: embedded Gemma-3-270M", "", r["markdown"], ""]
        latest["trim_vocab"] = r["summary"]
    for name, label in (("buckets_embedded", "the embedded Gemma-3-270M's tokenizer"), ("buckets_tiny-mt5-tokenizer", "the test suite's small mT5-layout tokenizer (4k SentencePiece vocabulary: longer sequences than mT5's)")):
        r = load(name)
        if r:
            lines += [f"## Shape buckets: padding added and shapes saved ({label})", "", "`python benchmarks/bench_buckets.py`: " + r["markdown"], ""]
    session = load("gpu_session")
    if session:
        lines += ["## GPU session", "", f"`benchmarks/gpu_session.py` run on {session.get('device')} at {session.get('started')} "
                  f"(sections: {', '.join(session.get('sections', []))}; skipped for time: {', '.join(session.get('skipped', [])) or 'none'}).", ""]
    for name in sorted(p.stem for p in RESULTS.glob("gpu_*.json") if not p.stem.endswith("_tiny") and p.stem != "gpu_session"):
        r = load(name)
        if "markdown" not in r:
            lines += [f"## GPU: {name}", "", "```", json.dumps(r.get("results", r), indent=1)[:2000], "```", ""]
            continue
        title = "several runs sharing one GPU (mT5-base shape)" if r.get("benchmark") == "gpu_pack" else r["model"]
        lines += [f"## GPU: {title}", "", r["markdown"], ""]
        if "summary" in r:
            latest[name] = r["summary"]
    synthetic = [load(p.stem) for p in sorted(RESULTS.glob("*.json")) if p.stem.startswith(("train_", "generate_")) and "random_init" in p.stem or p.stem.endswith("_synthetic")]
    synthetic = [r for r in synthetic if r and "[tiny]" not in r["model"]]
    if synthetic:
        lines += ["## GPU: xlgen vs the Trainer and the per-example generate loop (random-init models of the real shapes, synthetic inputs)", "",
                  "| comparison | model | device | xlgen | baseline | ratio |", "|---|---|---|---|---|---|"]
        for r in synthetic:
            if r["benchmark"] == "train":
                lines.append(f"| training, target tokens/s (vs Trainer) | {r['model']} | {r['device']} | {fmt(r['target_tokens_per_s']['xlgen'])} | "
                             f"{fmt(r['target_tokens_per_s']['trainer'])} | **{r['speedup']:.2f}×** |")
            else:
                lines.append(f"| generation, questions/s (vs per-example loop; outputs agree on {100 * r['outputs_agree_with_loop']:.0f}%) | {r['model']} | {r['device']} | "
                             f"{fmt(r['questions_per_s']['xlgen'], 2)} | {fmt(r['questions_per_s']['generate_loop'], 2)} | **{r['speedup_vs_loop']:.2f}×** |")
        lines.append("")
    extra = HERE / "NOTES.md"
    if extra.exists():
        lines += [extra.read_text()]
    (REPO / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    print(f"wrote {REPO / 'BENCHMARKS.md'} and {RESULTS / 'latest.json'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--render", action="store_true")
    args = ap.parse_args()
    if not args.render:
        reps = "1" if args.quick else "3"
        run("bench_scoring.py", "--reps", reps)
        run("bench_train.py", "--model", "midsize-mt5", "--reps", reps, "--examples", "64", "--max-tokens", "2000")
        run("bench_train.py", "--model", "embedded", "--reps", reps, "--examples", "16" if args.quick else "32")
        run("bench_generate.py", "--model", "midsize-mt5", "--reps", reps, "--questions", "96")
        run("bench_generate.py", "--model", "embedded", "--reps", reps, "--questions", "24" if args.quick else "48")
        run("bench_trim.py", "--reps", reps)
        if not args.quick:  # compiling the embedded model takes ~10 minutes on 2 CPU cores
            run("bench_train.py", "--model", "embedded", "--reps", "2", "--examples", "16", "--compile", "--out", "train_embedded_compile")
        import torch

        if torch.cuda.is_available():
            run("bench_gpu.py", "--reps", reps)
    render()


if __name__ == "__main__":
    main()
