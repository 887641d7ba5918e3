"""What an adaptation method is: which parameters train, what extra modules exist, what is saved, its options and
its place in the paper's learning-rate protocol.

A method turns a freshly loaded backbone model into the model that trains (freezing weights, inserting adapters,
wrapping it with PEFT) and saves only what it trained, so an adapter run's artifact is megabytes, not the model.
`xlgen evaluate`/`generate` rebuild base + saved parts from `xlgen_adaptation.json` in the artifact directory.
Adding a method is one module that subclasses `Method`, declares its `Options` and registers it (see DEVELOPERS.md).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from xlgen.config import AdaptationConfig, to_dict, typed_config
from xlgen.errors import XlgenError
from xlgen.registry import Registry

MANIFEST = "xlgen_adaptation.json"
WEIGHTS = "trained.safetensors"


@typed_config
class NoOptions:
    """A method without options."""


class Method:
    name: str = ""
    # The method's options: the YAML section named after it (`adaptation: {method: lora, lora: {r: 8}}`).
    Options: type = NoOptions
    # True when the saved artifact is a whole Hugging Face model directory (full finetuning).
    saves_whole_model: bool = False
    # Its role in the LR protocol (xlgen.study): a method searches its own preliminary LR unless it takes the PLR of
    # the method it is built on (`lr_from`, as the paper does for freezing: full finetuning's); `lr_refine` also tries
    # 3x the best decade, to locate the largest LR that still generates in the target language.
    lr_from: str | None = None
    lr_refine: bool = False

    def __init__(self, cfg: AdaptationConfig):
        self.cfg = cfg
        self.opts = cfg.options

    def apply(self, model, family: str):
        """Prepare `model` for training with this method; return the model to train (possibly a wrapper)."""
        raise NotImplementedError

    # -- artifacts ----------------------------------------------------------------------------------------------
    def trained_state(self, model) -> dict[str, torch.Tensor]:
        return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}

    def save(self, model, out: Path) -> None:
        save_file(self.trained_state(model), str(Path(out) / WEIGHTS))

    def load(self, model, out: Path, family: str):
        """Rebuild the trained model from a fresh base model and the saved parts."""
        model = self.apply(model, family)
        state = load_file(str(Path(out) / WEIGHTS))
        names = {n for n, _ in model.named_parameters()}
        unknown = sorted(set(state) - names)
        if unknown:
            raise XlgenError(f"{out}: saved parameters do not fit the model (e.g. {unknown[0]})")
        model.load_state_dict(state, strict=False)
        return model


def parameter_report(model) -> dict[str, float]:
    """Trainable parameters, total and share: every method reports them (the paper's cost axis)."""
    seen, total, trainable = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return {"trainable_params": trainable, "total_params": total, "trainable_share": trainable / max(total, 1)}


def write_manifest(out: Path, method: Method, base_model: str, family: str, extra: dict | None = None) -> None:
    from xlgen.io import atomic_write_json

    atomic_write_json(Path(out) / MANIFEST, {"method": method.name, "adaptation": to_dict(method.cfg), "base_model": base_model, "family": family, **(extra or {})})


def read_manifest(path: Path) -> dict | None:
    from xlgen.io import read_json

    p = Path(path) / MANIFEST
    return read_json(p) if p.exists() else None


METHODS = Registry("method", "adaptation.method")
register_method = METHODS.register


def get_method(cfg: AdaptationConfig) -> Method:
    return METHODS.lookup(cfg.method)(cfg)
