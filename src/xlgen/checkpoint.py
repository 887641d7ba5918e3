"""Checkpoints that survive a kill at any moment: written into `step_N.tmp/`, renamed to `step_N/` when complete.

A checkpoint holds only the parameters that train (all of them for full finetuning, megabytes for adapters), the
optimizer and scheduler states, the data-stream position and the random states, which is what resuming with the same
data order and the same dropout masks needs.

Run directories are shared (across clusters, between people), so loading one must never run code: `state.pt` holds
tensors and plain data only (the random states as tensors and integers, not NumPy or Python objects) and is read with
`torch.load(weights_only=True)`, which refuses any other pickle.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from xlgen.errors import XlgenError
from xlgen.io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl_lenient, remove_temporary_files

_STEP_DIR = re.compile(r"^step_(\d+)$")


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def _rng_state() -> dict:
    """The random states as tensors and plain integers, which `weights_only` loading accepts."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def read_state(path: Path) -> dict:
    """`state.pt` as tensors and plain data; anything else (code a pickle would run) is refused, not executed."""
    import pickle

    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise XlgenError(f"{path}: missing from the checkpoint") from None
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()
        detail = next((line.strip() for line in first if "Unsupported global" in line), first[0] if first else "")
        raise XlgenError(f"{path}: refused to load: it holds Python objects, not only tensors and plain data, so unpickling "
                         f"it could run code (written by another program or tampered with; {detail.rstrip('.')})") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise XlgenError(f"{path}: unreadable checkpoint state ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None
    if not isinstance(state, dict) or not {"optimizer", "scheduler", "rng"} <= set(state):
        raise XlgenError(f"{path}: not an xlgen checkpoint state (expected optimizer, scheduler and rng entries)")
    return state


def save(run_dir: Path, step: int, model, optimizer, scheduler, stream, *, keep: int = 1) -> Path:
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f"step_{step:07d}.tmp"
    with _writing(tmp, f"the checkpoint of step {step}", run_dir, 3 * _nbytes(model, True)):  # weights + Adam moments
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


@contextlib.contextmanager
def _writing(tmp: Path, what: str, run_dir: Path, need_bytes: int):
    """A failed write (a full disk, a vanished directory) removes its partial files, so the space is free again and
    nothing half-written looks complete, and ends in one line that says what is still intact. torch and safetensors
    report a full disk in their own words (`unexpected pos 553664 vs 553616`, `SafetensorError`), so any failure here
    counts, and the free space is compared with what the write needs."""
    try:
        yield
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).strip().splitlines() or [type(e).__name__])[0]
        try:
            free = shutil.disk_usage(tmp.parent).free
            if free < need_bytes:
                reason = f"the disk is full: {free / 2**20:.1f} MiB free, {what} needs about {need_bytes / 2**20:.1f} MiB; {reason}"
        except OSError:
            pass
        raise XlgenError(f"{tmp}: could not write {what} ({reason}){_intact(run_dir)}") from None


def _nbytes(model, trainable_only: bool) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad or not trainable_only)


def _intact(run_dir: Path) -> str:
    last = latest(run_dir)
    where = f"the last complete checkpoint, {last.name}, is intact" if last else "no checkpoint was written yet"
    return f"; {where}: free space and continue with `xlgen train --resume {run_dir}`"


def remove_stale_temporaries(run_dir: Path) -> None:
    """What a killed run may leave half-written: checkpoint and model directories still named `.tmp`, and the
    temporary files of atomic writes. Removed before the run goes on (it rewrites what it needs)."""
    run_dir = Path(run_dir)
    for d in [*(run_dir / "checkpoints").glob("*.tmp"), run_dir / "model.tmp"]:
        shutil.rmtree(d, ignore_errors=True)
    remove_temporary_files(run_dir)


def complete(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and (p / "progress.json").exists())


def latest(run_dir: Path) -> Path | None:
    found = complete(run_dir)
    return found[-1] if found else None


def load(path: Path, model, optimizer, scheduler, stream) -> int:
    try:
        state = load_file(str(path / "trainable.safetensors"))
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise XlgenError(f"{path / 'trainable.safetensors'}: unreadable checkpoint weights ({type(e).__name__}: {e})") from None
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != trainable:
        extra_names, missing = sorted(set(state) - trainable), sorted(trainable - set(state))
        raise XlgenError(f"{path}: checkpoint of another run: its trained parameters do not match this run's "
                         f"({len(extra_names)} unknown, e.g. {extra_names[:2]}; {len(missing)} missing, e.g. {missing[:2]})")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # same names, other shapes
        raise XlgenError(f"{path}: checkpoint of another run: {str(e).strip().splitlines()[-1].strip()}") from None
    extra = read_state(path / "state.pt")
    try:
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
        _set_rng_state(extra["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise XlgenError(f"{path / 'state.pt'}: does not fit this run ({type(e).__name__}: {e})") from None
    progress = read_json(path / "progress.json")
    try:
        stream.load_state_dict(progress["stream"])
        return int(progress["step"])
    except (KeyError, TypeError, ValueError) as e:
        raise XlgenError(f"{path / 'progress.json'}: does not fit this run ({type(e).__name__}: {e})") from None


def truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (all of them when there is none), so replayed steps
    are not logged twice; and test rows, which only an interrupted final evaluation leaves (it is redone)."""
    if not Path(path).exists():
        return
    rows = read_jsonl_lenient(path)
    kept = [r for r in rows if r.get("step", 0) <= step and r.get("split") != "test"]
    if len(kept) != len(rows) or Path(path).read_bytes().count(b"\n") != len(rows):  # rows dropped, or a torn line
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
    with _writing(tmp, "the adapted model", out.parent, _nbytes(backbone.model, not method.saves_whole_model)):
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
