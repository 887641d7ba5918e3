"""Backbone family registry and model loading."""

from xlgen.backbones import causal, seq2seq  # noqa: F401  (registration)
from xlgen.backbones.base import FAMILIES, Backbone, Encoded, family_of, get_family, register_family
from xlgen.backbones.loading import load_backbone, resolve_model_path

__all__ = ["FAMILIES", "Backbone", "Encoded", "family_of", "get_family", "register_family", "load_backbone", "resolve_model_path"]
