"""Everything issue 9 measures on a GPU, in one run of under ten minutes: the script a session with a GPU runs once.

    bash benchmarks/gpu_wheels.sh                       # here (any machine with pip): wheels the GPU machine lacks -> .whl/
    python benchmarks/gpu_session.py --out DIR          # there: sections in priority order until --deadline seconds
    python benchmarks/gpu_session.py --import DIR/gpu_session.json   # back here: results into benchmarks/results/
    python benchmarks/gpu_session.py --tiny --device cpu --out /tmp/s  # the same sections, scaled down, on a CPU

Sections, most important first (each in its own process with a time limit; one that fails or runs out is recorded
and the next one starts; sections that no longer fit before the deadline are skipped and listed):
  env          devices and library versions
  correctness  chunked / Liger cross-entropy against the plain path on the GPU (loss and gradients, bf16)
  mt5          mT5-base shape, summarization lengths, 4,000 and 16,000 tokens: the step before this issue vs now
  gemma        Gemma-3-270M shape (decoder-only), QA lengths: before vs now
  trainer      xlgen vs transformers' Trainer, target tokens/s, mT5-base and Gemma-3-270M shapes (synthetic QA)
  generate     batched generation vs the per-example loop, Gemma-3-270M shape, XQuAD-shaped prompts
  pack         k = 1, 2, 4 mT5-base runs (4,000 tokens) sharing the GPU: aggregate tokens/s, MFU, runs per hour
  attention    mT5-base at 16,000 tokens with each SDPA backend (efficient, cudnn, math, flash)
  mbart        mBART-large shape: before vs now
  compile      mT5-base compiled (default and reduce-overhead / CUDA graphs): step time and compile seconds
  liger        mT5-base with Liger-Kernel's fused linear cross-entropy

On the device tool (15 minutes of device time per session, 10 per command, a machine start included): one call with
the default deadline (540 s) runs the sections down to about `pack`; a second call, if the session's budget allows,
`--sections attention,mbart,compile,liger --deadline 500` (each call's files come back; import both).

Everything lands in three files under --out (the device tool returns at most eight): gpu_session.json (every
section's results, exit status and log tail), gpu_session.md (the tables) and gpu_session.log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def sections(tiny: bool, device: str) -> list[tuple[str, int, list[list[str]]]]:
    """(name, time limit in seconds on a GPU, commands). Each command writes JSON into the section's folder
    ({results})."""
    py = [sys.executable]
    small = ["--tiny", "--device", device, "--peak-tflops", "1"] if tiny else []
    steps = ["--steps", "2", "--reps", "1", "--warmup", "1", "--examples", "40"] if tiny else ["--steps", "10", "--reps", "3", "--warmup", "3", "--examples", "1500"]
    tokens = ["--max-tokens", "1500"] if tiny else ["--max-tokens", "4000", "16000"]
    gpu = [*py, str(HERE / "bench_gpu.py"), *small, *steps, "--results-dir", "{results}"]
    return [
        ("env", 30, [[*py, str(HERE / "gpu_session.py"), "--env", "{results}"]]),
        ("correctness", 60, [[*py, str(HERE / "gpu_session.py"), "--correctness", "{results}", "--device", device] + (["--tiny"] if tiny else [])]),
        ("mt5", 120, [[*gpu, "--shape", "mt5-base", "--variants", "before", "eager", *tokens]]),
        ("gemma", 90, [[*gpu, "--shape", "gemma3-270m", "--task", "qa", "--variants", "before", "eager", *tokens]]),
        ("trainer", 120, [[*py, str(HERE / "bench_train.py"), "--synthetic", s, "--examples", "24" if tiny else "400", "--max-tokens", "1500" if tiny else "4000",
                           "--reps", "1" if tiny else "2", "--results-dir", "{results}"] + (["--tiny", "--device", device] if tiny else [])
                          for s in ("mt5-base", "gemma3-270m")]),
        ("generate", 90, [[*py, str(HERE / "bench_generate.py"), "--synthetic", "gemma3-270m", "--questions", "20" if tiny else "60", "--max-new-tokens", "6" if tiny else "16",
                           "--reps", "1", "--results-dir", "{results}"] + (["--tiny"] if tiny else [])]),
        ("pack", 200, [[*gpu, "--shape", "mt5-base", "--variants", "eager", "--max-tokens", "1000" if tiny else "4000", "--pack", "1", "2", *([] if tiny else ["4"])]]),
        ("attention", 90, [[*gpu, "--shape", "mt5-base", "--variants", "eager", "--max-tokens", "1500" if tiny else "16000",
                            "--attention", *(["auto", "math"] if tiny else ["efficient", "cudnn", "math", "flash"])]]),
        ("mbart", 90, [[*gpu, "--shape", "mbart-large", "--variants", "before", "eager", *tokens]]),
        ("compile", 300, [[*gpu, "--shape", "mt5-base", "--variants", v, "--max-tokens", "1500" if tiny else "16000", "--warmup", "2" if tiny else "12", "--out", f"gpu_mt5-base_{v}"]
                          for v in (["compiled"] if tiny else ["compiled", "cudagraphs"])]),
        ("liger", 60, [] if tiny else [[*gpu, "--shape", "mt5-base", "--variants", "liger", "--max-tokens", "16000"]]),
    ]


def env_report(out: Path) -> None:
    import importlib.metadata as md

    import torch

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    for pkg in ("transformers", "peft", "liger-kernel", "triton", "accelerate", "tokenizers"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = None
    try:
        info["nvidia-smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        info["nvidia-smi"] = None
    print(json.dumps(info, indent=1))
    (out / "env.json").write_text(json.dumps(info, indent=1))


def correctness(out: Path, device: str, tiny: bool) -> None:
    """The output-layer losses on this device, bf16, mT5-base's vocabulary: chunked and Liger against the plain path."""
    import torch

    sys.path.insert(0, str(REPO / "src"))
    from xlgen.perf.losses import LOSS_IMPLS

    n, d, v = (64, 32, 4096) if tiny else (4096, 768, 250112)
    g = torch.Generator(device="cpu").manual_seed(0)
    hidden0 = torch.randn(n, d, generator=g).to(device)
    weight0 = (torch.randn(v, d, generator=g) * 0.05).to(device)
    labels = torch.randint(0, v, (n,), generator=g).to(device)
    labels[::7] = -100
    rows = {}
    for name in ("plain", "chunked", "liger"):
        if name == "liger" and not device.startswith("cuda"):
            continue
        hidden, weight = hidden0.clone().to(torch.bfloat16).requires_grad_(), weight0.clone().to(torch.bfloat16).requires_grad_()
        try:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() if device.startswith("cuda") else 0
            t0 = time.perf_counter()
            loss = LOSS_IMPLS[name](hidden, weight, labels)
            (loss / n).backward()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rows[name] = {"loss": float(loss), "grad_h": hidden.grad.float().cpu(), "grad_w": weight.grad.float().cpu(), "seconds": time.perf_counter() - t0,
                          "peak_extra_mib": (torch.cuda.max_memory_allocated() - base) / 2**20 if device.startswith("cuda") else None}
        except Exception as e:
            rows[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    ref = rows["plain"]
    report = {}
    for name, r in rows.items():
        if "error" in r:
            report[name] = r
            continue
        report[name] = {"loss": r["loss"], "loss_rel_diff": abs(r["loss"] - ref["loss"]) / abs(ref["loss"]),
                        "grad_h_max_abs_diff": float((r["grad_h"] - ref["grad_h"]).abs().max()), "grad_h_max_abs": float(ref["grad_h"].abs().max()),
                        "grad_w_max_abs_diff": float((r["grad_w"] - ref["grad_w"]).abs().max()), "grad_w_max_abs": float(ref["grad_w"].abs().max()),
                        "seconds_first_call": r["seconds"], "peak_extra_mib": r["peak_extra_mib"]}
    print(json.dumps(report, indent=1))
    (out / "correctness.json").write_text(json.dumps({"n": n, "d": d, "vocab": v, "dtype": "bf16", "results": report}, indent=1))


def run_sections(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "gpu_session.log", "a")
    import tempfile

    # Outside --out: the device tool returns at most eight files from there.
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-session-"))
    start = time.time()
    deadline = start + args.deadline
    merged: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "tiny": args.tiny, "device": args.device, "sections": {}, "skipped": []}
    chosen = args.sections.split(",") if args.sections else None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep), "PYTHONUNBUFFERED": "1"}
    for name, limit, commands in sections(args.tiny, args.device):
        if chosen and name not in chosen:
            continue
        left = deadline - time.time()
        limit = limit * (10 if args.tiny else 1)
        if left < min(limit, 45) or not commands:
            merged["skipped"].append(name)
            continue
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        record = {"commands": [], "seconds": 0.0}
        t0 = time.time()
        for cmd in commands:
            cmd = [c.replace("{results}", str(folder)) for c in cmd]
            budget = max(10, min(limit - (time.time() - t0), deadline - time.time()))
            print(f"[{time.time() - start:6.0f}s] {name}: {' '.join(cmd[1:])} (limit {budget:.0f}s)", file=log, flush=True)
            try:
                p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=budget)
                code, text = p.returncode, p.stdout + p.stderr
            except subprocess.TimeoutExpired as e:
                code, text = "timeout", ((e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")) + \
                    ((e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or ""))
            log.write(text + "\n")
            log.flush()
            record["commands"].append({"cmd": cmd[1:], "exit": code, "tail": "\n".join(l for l in text.splitlines() if "Warning" not in l)[-3000:]})
        record["seconds"] = time.time() - t0
        record["results"] = {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
        merged["sections"][name] = record
        print(f"[{time.time() - start:6.0f}s] {name}: done in {record['seconds']:.0f}s, exits {[c['exit'] for c in record['commands']]}", file=log, flush=True)
        _write(out, merged)  # after every section: a run cut short still returns what it measured
    merged["seconds"] = time.time() - start
    _write(out, merged)
    print((out / "gpu_session.md").read_text())
    return 0


def _write(out: Path, merged: dict) -> None:
    tmp = out / "gpu_session.json.tmp"
    tmp.write_text(json.dumps(merged, indent=1, default=str))
    tmp.replace(out / "gpu_session.json")
    (out / "gpu_session.md").write_text(render(merged))


def render(merged: dict) -> str:
    lines = [f"# GPU session ({merged['started']}{', tiny shapes' if merged['tiny'] else ''})", ""]
    for name, sec in merged["sections"].items():
        lines += [f"## {name} ({sec['seconds']:.0f} s; exit {', '.join(str(c['exit']) for c in sec['commands'])})", ""]
        for fname, r in sec["results"].items():
            if isinstance(r, dict) and "markdown" in r:
                lines += [f"`{fname}`: {r.get('model', '')}", "", r["markdown"], ""]
            elif isinstance(r, dict) and r.get("benchmark") in ("train", "generate_synthetic"):
                key = "target_tokens_per_s" if r["benchmark"] == "train" else "questions_per_s"
                ratio = r.get("speedup") or r.get("speedup_vs_loop")
                lines += [f"`{fname}`: {r['model']}: " + ", ".join(f"{k} {v['median']:.1f}" for k, v in r[key].items()) + f" ({key}); ratio **{ratio:.2f}×**", ""]
            else:
                lines += [f"`{fname}`:", "", "```", json.dumps(r, indent=1, default=str)[:3000], "```", ""]
        failed = [c for c in sec["commands"] if c["exit"] != 0]
        for c in failed:
            lines += ["```", c["tail"][-1500:], "```", ""]
    if merged["skipped"]:
        lines += [f"Skipped (no time left before the deadline): {', '.join(merged['skipped'])}", ""]
    return "\n".join(lines)


def import_results(path: Path) -> None:
    """A returned gpu_session.json into benchmarks/results/ (what `run_all.py --render` reads), tiny runs excluded."""
    merged = json.loads(Path(path).read_text())
    if merged.get("tiny"):
        sys.exit("a --tiny session measures nothing worth recording")
    results = HERE / "results"
    for name, sec in merged["sections"].items():
        for fname, r in sec["results"].items():
            target = results / (fname if fname.startswith(("gpu_", "train_", "generate_")) else f"gpu_session_{fname}")
            target.write_text(json.dumps(r, indent=2, default=str))
            print(f"{name}: -> {target}")
    (results / "gpu_session.json").write_text(json.dumps({k: v for k, v in merged.items() if k != "sections"} | {"sections": list(merged["sections"])}, indent=2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="gpu-session")
    ap.add_argument("--work", default=None, help="per-section scratch folder (default: a temporary one)")
    ap.add_argument("--deadline", type=float, default=540, help="seconds for all sections together")
    ap.add_argument("--sections", default=None, help="comma-separated subset")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--device", default=None)
    ap.add_argument("--env", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--correctness", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--import", dest="import_path", default=None, help="record a returned gpu_session.json in benchmarks/results")
    args = ap.parse_args()
    if args.import_path:
        import_results(Path(args.import_path))
        return 0
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.env:
        env_report(Path(args.env))
        return 0
    if args.correctness:
        correctness(Path(args.correctness), args.device, args.tiny)
        return 0
    if args.device == "cpu" and not args.tiny:
        sys.exit("gpu_session.py measures a GPU; no CUDA device is visible (use --tiny --device cpu for a smoke run)")
    return run_sections(args)


if __name__ == "__main__":
    sys.exit(main())
