"""Which scaled-dot-product attention kernels a run may use (`torch.nn.attention.sdpa_kernel`).

Flash attention takes no additive mask, so it never serves T5 (its relative position bias is one) nor padded batches
of any family; cuDNN and memory-efficient attention take masks and biases, and differ per GPU and per shape. A family
may name its preferred order (`Backbone.attention_backends`, measured by `benchmarks/gpu_session.py`); an empty one
leaves the choice to torch. `train.attention` overrides both ("cudnn,efficient", "math", ...).
"""

from __future__ import annotations

from contextlib import nullcontext

NAMES = ("flash", "efficient", "cudnn", "math")


def backends(setting: str, family_default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ordered backend names for `train.attention` (auto: the family's own, possibly none)."""
    from xlgen.errors import XlgenError

    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return tuple(family_default)
    names = tuple(s.strip() for s in setting.split(",") if s.strip())
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise XlgenError(f"train.attention: unknown backend(s) {unknown or setting!r} (known: auto, or a list of {', '.join(NAMES)})")
    return names


def attention_context(names: tuple[str, ...]):
    """A context manager restricting SDPA to `names` in that order of priority; a no-op for an empty tuple."""
    if not names:
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    table = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    chosen = [table[n] for n in names]
    try:
        return sdpa_kernel(chosen, set_priority=True)
    except TypeError:  # torch < 2.6: no priority order, only the set
        return sdpa_kernel(chosen)
