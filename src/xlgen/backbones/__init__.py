"""Backbone family registry and model loading: one module per family (`t5.py`, `mbart.py`, `m2m100.py`, `marian.py`,
`causal.py`, and `seq2seq.py` for what encoder-decoders share). Importing a family's module registers it."""

# Registration order is the order families are listed in (and tiny test models built in).
from xlgen.backbones import seq2seq  # noqa: F401, I001  (registration)
from xlgen.backbones import t5  # noqa: F401
from xlgen.backbones import mbart  # noqa: F401
from xlgen.backbones import m2m100  # noqa: F401
from xlgen.backbones import marian  # noqa: F401
from xlgen.backbones import causal  # noqa: F401
from xlgen.backbones import encoder  # noqa: F401
from xlgen.backbones.base import (
    FAMILIES,
    Backbone,
    Encoded,
    all_code_patterns,
    all_rudiments,
    families,
    family_of,
    get_family,
    register_family,
)
from xlgen.backbones.loading import load_backbone, resolve_model_path

__all__ = [
    "FAMILIES", "Backbone", "Encoded", "all_code_patterns", "all_rudiments", "families", "family_of", "get_family",
    "register_family", "load_backbone", "resolve_model_path",
]  # fmt: skip
