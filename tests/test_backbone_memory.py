"""A loaded backbone must be freeable: study and transfer drivers load one per run in one process."""

import gc
import weakref

import torch

from xlgen.backbones import load_backbone
from xlgen.config import ModelConfig, TaskConfig
from xlgen.tasks import Example, get_task
from xlgen.testing import tiny_model


def _load_encode_drop(name: str) -> weakref.ref:
    backbone = load_backbone(ModelConfig(name=name), torch.device("cpu"))
    task = get_task(TaskConfig(name="qa"))
    backbone.encode([Example(id="1", lang="de", input="Ein Absatz.", suffix=" Frage?", target="Absatz")], task)
    ref = weakref.ref(backbone.model)
    del backbone
    gc.collect()
    return ref


def test_backbones_are_freed_after_use(data_dir):
    for family in ("mt5", "mbart50", "causal"):
        ref = _load_encode_drop(str(tiny_model(family)))
        assert ref() is None, f"{family}: the model outlives its backbone (a class-level cache holds it)"
