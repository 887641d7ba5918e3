"""Checkpoints that survive a kill at any moment: written into `step_N.tmp/`, renamed to `step_N/` when complete.

A checkpoint holds only the parameters that train (all of them for full finetuning, megabytes for adapters), the
optimizer and scheduler states, the data-stream position and the random states, which is what resuming with the same
data order and the same dropout masks needs.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from xlgen.io import atomic_write_json, atomic_write_jsonl, read_jsonl_lenient

_STEP_DIR = re.compile(r"^step_(\d+)$")


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, step: int, model, optimizer, scheduler, stream, *, keep: int = 1) -> Path:
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f"step_{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": _rng_state()}, tmp / "state.pt")
    atomic_write_json(tmp / "progress.json", {"step": step, "stream": stream.state_dict()})
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in sorted(complete(run_dir))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and (p / "progress.json").exists())


def latest(run_dir: Path) -> Path | None:
    found = complete(run_dir)
    return found[-1] if found else None


def load(path: Path, model, optimizer, scheduler, stream) -> int:
    state = load_file(str(path / "trainable.safetensors"))
    missing_names = set(state) - {n for n, _ in model.named_parameters()}
    if missing_names:
        raise RuntimeError(f"{path}: checkpoint has parameters the model lacks: {sorted(missing_names)[:5]}")
    model.load_state_dict(state, strict=False)
    extra = torch.load(path / "state.pt", weights_only=False)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    _set_rng_state(extra["rng"])
    progress = json.loads((path / "progress.json").read_text())
    stream.load_state_dict(progress["stream"])
    return int(progress["step"])


def truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from, so replayed steps are not logged twice."""
    if not Path(path).exists():
        return
    rows = read_jsonl_lenient(path)
    kept = [r for r in rows if r.get("step", 0) <= step]
    if len(kept) != len(rows) or Path(path).read_text().count("\n") != len(rows):
        atomic_write_jsonl(path, kept)


def portable_model_name(name: str) -> str:
    """Hub names and "embedded" stay as they are; local directories become absolute paths."""
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


def save_model(out: Path, backbone, method, base_model: str) -> None:
    """The adapted model, written atomically: a normal Hugging Face directory for full finetuning, otherwise only the
    trained parts plus `xlgen_adaptation.json`, from which `load_backbone` rebuilds base + parts."""
    from xlgen.adaptation import write_manifest

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if method.saves_whole_model:
        backbone.model.save_pretrained(tmp)
        backbone.tokenizer.save_pretrained(tmp)
    else:
        method.save(backbone.model, tmp)  # the base model's tokenizer is used as it is
    extra = method.manifest_extra() if hasattr(method, "manifest_extra") else {}
    write_manifest(tmp, method, portable_model_name(base_model), backbone.family, extra)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
