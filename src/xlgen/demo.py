"""`xlgen demo` / `make demo`: a miniature of the paper's Figure 1 on the embedded model, on CPU.

Full finetuning of Gemma-3-270M on English QA at three learning rates two orders of magnitude apart, zero-shot XQuAD
in English and eight target languages, and a report (Markdown + PNG) of F1, language-correct rate and answer length
against the learning rate. Each learning rate is an ordinary run directory: an interrupted demo resumes where it was.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from xlgen.config import load_config
from xlgen.figure1 import write_lr_report
from xlgen.train import train

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
DEMO_LRS = (1e-3, 1e-4, 1e-5)


def run_demo(out: str | Path, *, config: str | None = None, overrides: list[str] = (), lrs=DEMO_LRS, progress: bool = True) -> Path:
    out = Path(out)
    t0 = time.time()
    path = Path(config) if config else DEMO_CONFIG
    base = load_config(path, list(overrides))
    run_dirs = []
    for lr in lrs:
        cfg = copy.deepcopy(base)
        cfg.train.lr = lr
        cfg.output_dir = str(out / f"lr{lr:g}")
        run_dir = Path(cfg.output_dir)
        if (run_dir / "results.json").exists():
            print(f"[xlgen] demo: lr={lr:g} already done ({run_dir})")
        elif (run_dir / "config.yaml").exists():
            train(resume_dir=run_dir, progress=progress)
        else:
            train(cfg, progress=progress)
        run_dirs.append(run_dir)
    return write_lr_report(run_dirs, out, title="xlgen demo: learning rate vs zero-shot XQuAD (miniature Figure 1)", wall_time_s=time.time() - t0, config_path=config, overrides=list(overrides))
