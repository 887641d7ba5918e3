"""Library versions that work together, checked where a mismatch would otherwise fail deep inside a run.

transformers 5.18 removed `GenerationMixin._prepare_encoder_decoder_kwargs_for_generation`; peft up to 0.21.1 reads
it when it wraps any encoder-decoder model (`PeftModelForSeq2SeqLM.__init__`), so LoRA, prompt tuning or any PEFT
method on mT5/mBART/NLLB fails with an AttributeError. peft 0.21.2 no longer uses it. pyproject.toml declares the
minimums (transformers>=5.17, peft>=0.21.2) and `make test-min` runs the version-sensitive tests against them.
"""

from __future__ import annotations

import functools
import inspect

from xlgen.errors import XlgenError

MIN_TRANSFORMERS = "5.17.0"
MIN_PEFT = "0.21.2"


def _version(pkg: str):
    from importlib.metadata import version

    from packaging.version import Version

    return Version(version(pkg))


def check_peft_for_encoder_decoder() -> None:
    """A one-line error, before any work, where the installed peft cannot wrap encoder-decoder models."""
    from packaging.version import Version
    from transformers import GenerationMixin

    if not hasattr(GenerationMixin, "_prepare_encoder_decoder_kwargs_for_generation") and _version("peft") < Version(MIN_PEFT):
        raise XlgenError(f"adaptation.method: peft {_version('peft')} cannot wrap encoder-decoder models under transformers {_version('transformers')} "
                         f"(it needs a method transformers 5.18 removed); install peft>={MIN_PEFT}")


@functools.lru_cache(maxsize=None)
def _forward_parameters(cls) -> frozenset:
    return frozenset(inspect.signature(cls.forward).parameters)


def forward_parameters(model) -> frozenset:
    """The keyword names a model's forward takes (they change across transformers releases: see `cache_kwarg`)."""
    return _forward_parameters(type(model))


def cache_kwarg(model) -> str:
    """The name a model's forward (and `generate`) takes its KV cache by: transformers 5.2x renamed `past_key_values`
    to `cache` (the old name warns, and goes from model forwards in 5.40); earlier releases know only the old name."""
    return "cache" if "cache" in forward_parameters(model) else "past_key_values"


def output_cache(output):
    """The KV cache of a model output, under either name (see `cache_kwarg`), without the deprecation warning."""
    return output["cache"] if "cache" in output else output["past_key_values"]
