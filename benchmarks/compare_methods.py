"""One row per adaptation method on the embedded model on CPU: trainable parameters, artifact size, training tokens/s,
peak memory, and XQuAD F1 / language-correct rate averaged over the target languages.

    python benchmarks/compare_methods.py [--steps 16] [--out docs/methods.md]

Each method runs as its own `xlgen train` process, so its peak resident memory is its own (read from the kernel's
rusage of that child). Learning rates follow the paper's Table 4 pattern for a small number of steps: 1e-4 for
methods that update pretrained weights, 1e-3 for adapters and LoRA, 1e-2 for prompt tuning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHODS = [
    ("full", "full", 1e-4, []),
    ("freeze", "freeze", 1e-4, []),
    ("adapters", "adapters", 1e-3, []),
    ("prompt", "prompt", 1e-2, []),
    ("lora", "lora", 1e-3, []),
    (
        "full + mix (p=0.1)",
        "full",
        1e-4,
        ["data.mix={raw: {path: '${XLGEN_DATA}/ud_monolingual_text/ud_text.{lang}.txt', languages: [de, ru, zh, vi], max_lines: 2000}, probability: 0.1}"],
    ),
]


def run(name, method, lr, extra, out: Path, steps: int) -> dict:
    run_dir = out / name.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "").replace("+", "plus")
    if not (run_dir / "results.json").exists():
        cmd = [sys.executable, "-m", "xlgen", "train", str(REPO / "configs/bench/methods.yaml"), f"adaptation.method={method}", f"train.lr={lr}", f"train.steps={steps}", f"output_dir={run_dir}", *extra, "--no-progress"]
        if run_dir.exists():
            cmd = [sys.executable, "-m", "xlgen", "train", "--resume", str(run_dir), "--no-progress"]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"{name}: xlgen train failed ({status})")
        (run_dir / "bench.json").write_text(json.dumps({"peak_rss_mb": usage.ru_maxrss / 1024, "wall_s": time.time() - t0}))
    res = json.loads((run_dir / "results.json").read_text())
    bench = json.loads((run_dir / "bench.json").read_text())
    log = [json.loads(line) for line in open(run_dir / "train_log.jsonl")]
    return {"name": name, "lr": lr, **res, **bench, "tokens_per_s": log[-1]["tokens_per_s"], "target_tokens_per_s": log[-1]["target_tokens_per_s"]}


def table(rows: list[dict]) -> str:
    head = "| method | lr | trainable params | share | artifact | tokens/s | peak RSS | F1 (avg) | lang. correct (avg) |\n|---|---|---|---|---|---|---|---|---|"
    lines = [head]
    for r in rows:
        s = r["test_summary"]
        lines.append(
            f"| {r['name']} | {r['lr']:g} | {r['trainable_params'] / 1e6:.2f}M | {100 * r['trainable_share']:.2f}% | "
            f"{r['artifact_bytes'] / 2**20:.1f} MiB | {r['tokens_per_s']:.0f} | {r['peak_rss_mb'] / 1024:.2f} GiB | "
            f"{s['avg_f1']:.1f} | {s['avg_lang_correct']:.1f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--runs", default=str(REPO / "runs" / "bench-methods"))
    ap.add_argument("--out", default=str(REPO / "docs" / "methods.md"))
    args = ap.parse_args()
    rows = [run(name, method, lr, extra, Path(args.runs), args.steps) for name, method, lr, extra in METHODS]
    first = rows[0]
    text = f"""# Adaptation methods on the embedded model (CPU)

Produced by `python benchmarks/compare_methods.py --steps {args.steps}` (config `configs/bench/methods.yaml`):
Gemma-3-270M, {args.steps} training steps of at most 800 tokens on English QA (SQuAD dev minus XQuAD), then XQuAD with
the paper's filter in de, ru, zh, vi ({first['test']['de']['n']} questions each), greedy decoding, on a 2-core CPU
({first['device']}, {first['precision']}). Tokens/s counts prompt and target tokens of the training step; peak RSS is
the whole `xlgen train` process (model, optimizer state, evaluation). The artifact is what the run saves as its model:
the whole model for full finetuning, only the trained parts otherwise (plus a manifest).

At this size the quality columns say little (a few dozen training examples); the cost columns are the point.

{table(rows)}
"""
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
