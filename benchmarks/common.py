"""Shared pieces of the benchmarks: timing with repetitions, peak memory, the machine's description, models.

Every comparison runs in one process, alternating the contenders over several repetitions, and reports the median
and the spread (min..max): timings on a shared 2-core machine are noisy, a lone time means little.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
RESULTS = REPO / "benchmarks" / "results"

from xlgen.config import data_dir  # noqa: E402,F401  (the one place that knows where the shared data lives)


def machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({machine()['cpu']}, {os.cpu_count()} cores)"


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values), "values": values}


class PeakMemory:
    """Peak memory of a block: CUDA's allocator high-water mark on GPU, else the process's resident set sampled every
    5 ms (the kernel keeps only a lifetime high-water mark, which cannot be reset between contenders)."""

    def __init__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        self.peak = 0
        self.base = 0

    def __enter__(self):
        import psutil
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.stop = threading.Event()

        def sample():
            while not self.stop.is_set():
                self.peak = max(self.peak, self.proc.memory_info().rss)
                time.sleep(0.005)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20

    @property
    def added_mib(self) -> float:
        return (self.peak - self.base) / 2**20


@contextmanager
def timer():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = {"start": time.perf_counter()}
    yield t
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t["seconds"] = time.perf_counter() - t["start"]


def write_result(name: str, data: dict, results_dir: str | Path | None = None) -> Path:
    out = Path(results_dir) if results_dir else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)
    return path


def midsize_mt5(out: Path) -> Path:
    """A small mT5-shaped random model with the tiny test tokenizer: big enough that the arithmetic, not Python
    overhead, dominates a step on CPU (d_model 256, 4+4 layers), small enough for a quick benchmark."""
    from transformers import AutoTokenizer, MT5Config, MT5ForConditionalGeneration

    from xlgen.testing import tiny_model

    if (out / "config.json").exists():
        return out
    tok = AutoTokenizer.from_pretrained(tiny_model("mt5"))
    cfg = MT5Config(vocab_size=len(tok) + (-len(tok)) % 128, d_model=256, d_kv=32, d_ff=1024, num_layers=4, num_decoder_layers=4, num_heads=8,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id, tie_word_embeddings=False)
    import torch

    torch.manual_seed(0)
    model = MT5ForConditionalGeneration(cfg)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
