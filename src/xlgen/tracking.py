"""Optional experiment tracking: TensorBoard, MLflow or Weights & Biases, whichever the user installed and asked for.

Off by default (`tracking: []`). The run directory stays the source of truth; trackers only mirror what the run
writes to `train_log.jsonl` and `metrics.jsonl`, so a tracker failing never loses a result.
"""

from __future__ import annotations

import os
from pathlib import Path

from xlgen.errors import XlgenError

KNOWN = ("tensorboard", "mlflow", "wandb")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
    return out


class Trackers:
    def __init__(self, names: list[str], run_dir: Path, run_name: str, config: dict):
        unknown = [n for n in names if n not in KNOWN]
        if unknown:
            raise XlgenError(f"tracking: unknown tracker {unknown[0]!r} (known: {', '.join(KNOWN)})")
        self.backends = []
        for name in names:
            try:
                self.backends.append(getattr(self, f"_open_{name}")(Path(run_dir), run_name, config))
            except ImportError:
                package = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}[name]
                raise XlgenError(f"tracking: {name} was asked for but the package is not installed (pip install {package})") from None

    @staticmethod
    def _open_tensorboard(run_dir: Path, run_name: str, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        writer.add_text("config", "```\n" + "\n".join(f"{k}: {v}" for k, v in _flatten(config).items()) + "\n```")
        return ("tensorboard", writer)

    @staticmethod
    def _open_mlflow(run_dir: Path, run_name: str, config: dict):
        import mlflow

        # Without MLFLOW_TRACKING_URI, one SQLite store beside the run directories (MLflow's own default store
        # kind; its file store is deprecated), so the runs of a study land in one place.
        mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(run_dir.parent / 'mlflow.db').resolve()}")
        run = mlflow.start_run(run_name=run_name)
        mlflow.log_params({k: v for k, v in _flatten(config).items()})
        return ("mlflow", run)

    @staticmethod
    def _open_wandb(run_dir: Path, run_name: str, config: dict):
        import wandb

        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "xlgen"), name=run_name, config=config, dir=str(run_dir), reinit="finish_previous")
        return ("wandb", run)

    def log(self, metrics: dict[str, float], step: int) -> None:
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for kind, handle in self.backends:
            if kind == "tensorboard":
                for k, v in numeric.items():
                    handle.add_scalar(k, v, step)
            elif kind == "mlflow":
                import mlflow

                mlflow.log_metrics({k.replace("@", "_"): v for k, v in numeric.items()}, step=step)
            elif kind == "wandb":
                handle.log(numeric, step=step)

    def close(self) -> None:
        for kind, handle in self.backends:
            if kind == "tensorboard":
                handle.close()
            elif kind == "mlflow":
                import mlflow

                mlflow.end_run()
            elif kind == "wandb":
                handle.finish()
        self.backends = []
