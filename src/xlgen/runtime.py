"""Where and how a run computes (device, precision, seeds), and the run context every step of a run is handed.

Training, evaluation, `xlgen evaluate`/`generate` and the benchmarks build one `RunContext` and pass it to the same
functions (`train.train_step`, `evaluate.evaluate_split`), instead of threading a dozen parameters through each.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from xlgen.perf.attention import attention_context, backends
from xlgen.perf.precision import resolve_precision, uses_autocast  # noqa: F401  (resolve_precision: imported from here)

if TYPE_CHECKING:
    from xlgen.backbones import Backbone
    from xlgen.config import RunConfig
    from xlgen.tasks import Task
    from xlgen.tracking import Trackers


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class RunContext:
    """What every step of a run needs: the config, the model in its family, the task, where it computes, and where
    its outputs go (`run_dir` None: nothing is written; `trackers` None: nothing is mirrored)."""

    cfg: RunConfig
    backbone: Backbone
    task: Task
    device: torch.device
    precision: str
    run_dir: Path | None = None
    trackers: Trackers | None = None
    progress: bool = True

    @property
    def model(self):
        """The model as adapted (a PEFT wrapper, for PEFT methods): the backbone holds it."""
        return self.backbone.model

    def autocast(self):
        """bf16 autocast when the precision says so (bf16, bf16-autocast); a no-op context otherwise."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=uses_autocast(self.precision))

    def attention(self):
        """SDPA restricted to `train.attention` (or the family's preferred kernels); a no-op when neither names any."""
        return attention_context(backends(self.cfg.train.attention, self.backbone.attention_backends))
