"""Checkpoints are read without running code: a pickle carrying anything but tensors and plain data is refused."""

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from xlgen import checkpoint as ckpt
from xlgen.config import ModelConfig, TrainConfig
from xlgen.errors import XlgenError
from xlgen.testing import tiny_model


class _Payload:
    """What an attacker would put in a shared run directory: unpickling it creates a directory (harmless stand-in
    for running a command)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _Stream:
    def __init__(self):
        self.state = {"epoch": 0, "index": 0}

    def state_dict(self):
        return dict(self.state)

    def load_state_dict(self, s):
        self.state = dict(s)


def _setup():
    from xlgen.backbones import load_backbone
    from xlgen.train import make_optimizer, make_scheduler

    backbone = load_backbone(ModelConfig(name=str(tiny_model("t5"))))
    model = backbone.model
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], TrainConfig(lr=1e-3, warmup_steps=2))
    return model, opt, make_scheduler(opt, TrainConfig(warmup_steps=2))


def _one_step(model, opt, sched):
    loss = sum(p.float().pow(2).mean() for p in list(model.parameters())[:3])
    loss.backward()
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)


def test_checkpoint_round_trip_restores_optimizer_and_random_states(tmp_path):
    model, opt, sched = _setup()
    _one_step(model, opt, sched)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    path = ckpt.save(tmp_path, 1, model, opt, sched, _Stream())
    expect = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    # state.pt is plain data: the strict loader reads it.
    torch.load(path / "state.pt", weights_only=True)
    model2, opt2, sched2 = _setup()
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    assert ckpt.load(path, model2, opt2, sched2, _Stream()) == 1
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expect
    a, b = opt.state_dict(), opt2.state_dict()
    for k in a["state"]:
        assert torch.equal(a["state"][k]["exp_avg"], b["state"][k]["exp_avg"])
    assert sched2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"] == 1


def test_malicious_pickle_in_a_checkpoint_is_refused(tmp_path):
    model, opt, sched = _setup()
    path = ckpt.save(tmp_path / "run", 1, model, opt, sched, _Stream())
    marker = tmp_path / "pwned"
    state = torch.load(path / "state.pt", weights_only=True)
    state["rng"]["extra"] = _Payload(marker)
    torch.save(state, path / "state.pt")
    # The file really is malicious: the unsafe loader (what xlgen used before) runs the payload...
    torch.load(path / "state.pt", weights_only=False)
    assert marker.is_dir()
    marker.rmdir()
    # ...xlgen refuses it with a one-line error naming the file, and nothing runs.
    with pytest.raises(XlgenError, match=r"state\.pt: refused to load") as err:
        ckpt.load(path, model, opt, sched, _Stream())
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_truncated_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    model, opt, sched = _setup()
    path = ckpt.save(tmp_path / "run", 1, model, opt, sched, _Stream())
    data = (path / "state.pt").read_bytes()
    (path / "state.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(XlgenError, match="unreadable checkpoint state"):
        ckpt.load(path, model, opt, sched, _Stream())
    other = ckpt.save(tmp_path / "other", 1, model, opt, sched, _Stream())
    from xlgen.backbones import load_backbone

    mt5 = load_backbone(ModelConfig(name=str(tiny_model("mt5")))).model
    with pytest.raises(XlgenError, match="checkpoint of another run"):
        ckpt.load(other, mt5, opt, sched, _Stream())
