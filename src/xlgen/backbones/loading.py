"""Load a model and tokenizer by hub name, local directory, run directory or "embedded", and wrap it in its family."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from xlgen.backbones.base import Backbone, family_of, get_family
from xlgen.config import ModelConfig
from xlgen.errors import XlgenError


def resolve_model_path(name: str) -> str:
    """Map "embedded" to the prepared Gemma-3-270M directory and a run directory to its saved model."""
    if name in ("embedded", "embedded:gemma-3-270m", "gemma-3-270m-embedded"):
        from xlgen.embedded import ensure_prepared

        return str(ensure_prepared())
    p = Path(name).expanduser()
    if p.is_dir():
        if (p / "model").is_dir() and not (p / "config.json").exists():
            return str(p / "model")  # a run directory
        return str(p)
    if p.suffix in (".yaml", ".json") or name.startswith((".", "/", "~")):
        raise XlgenError(f"model {name}: no such directory")
    return name  # a Hugging Face hub name


def load_backbone(cfg: ModelConfig, device: str | torch.device = "cpu") -> Backbone:
    """Load a model for training or inference; an artifact of trained parts (adapters, prompts, LoRA, a frozen-
    decoder run) is rebuilt from its base model and the saved parts, as its `xlgen_adaptation.json` describes."""
    from transformers import AutoConfig, AutoTokenizer

    from xlgen.adaptation import get_method, read_manifest
    from xlgen.config import AdaptationConfig, from_dict

    path = resolve_model_path(cfg.init_from or cfg.name)
    manifest = read_manifest(Path(path)) if Path(path).is_dir() else None
    if manifest and manifest["method"] != "full":
        base = load_backbone(dataclasses.replace(cfg, name=manifest["base_model"], init_from=None), device)
        method = get_method(from_dict(AdaptationConfig, manifest["adaptation"]))
        base.model = method.load(base.model, Path(path), base.family).to(device)
        base.model.eval()
        return base
    try:
        hf_config = AutoConfig.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise XlgenError(f"model {cfg.name}: cannot load ({first})") from None
    family = family_of(hf_config) if cfg.family == "auto" else cfg.family
    cls = get_family(family)
    if cls.is_encoder_decoder != bool(getattr(hf_config, "is_encoder_decoder", False)):
        raise XlgenError(f"model.family: {family!r} does not match model {cfg.name} (model_type {hf_config.model_type})")
    # Weights stay fp32: on GPU, bf16 autocast gives the speed and fp32 master weights keep small updates (1e-6 LRs).
    model = cls.auto_class().from_pretrained(path, dtype=torch.float32)
    model.to(device)
    return cls(model, tokenizer, cfg, cfg.name)
