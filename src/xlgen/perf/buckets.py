"""Shape buckets: batch shapes drawn from a small set, so that the GPU's per-shape work is done once per bucket.

Token-budget batches make almost every batch shape new: cuDNN plans its attention anew for each (3.4 ms of host time
per call on an H200), cuBLAS picks its kernels anew, and a compiled graph or CUDA graph is specialised anew. Padding
the source and target lengths up to multiples of a bucket size (capped at the crop length) and the number of rows up
to what the token budget allows for that bucket leaves a few dozen shapes for a whole run. The padding this adds is
counted (`BucketPolicy.padding`), and the token budget is applied to the bucketed shape, so batches stay within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Cost = tuple[int, int]  # (input tokens, target tokens) of one example


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple if multiple > 0 else n


@dataclass(frozen=True)
class BatchShape:
    rows: int
    source: int  # encoder-decoders: the padded source length; decoder-only: the padded prompt + target length
    target: int  # the padded target length (decoder-only: label slots per row)

    @property
    def tokens(self) -> int:
        return self.rows * (self.source + self.target)


@dataclass(frozen=True)
class BucketPolicy:
    """Lengths padded up to multiples of `source_multiple` / `target_multiple`, never past the crop lengths; rows padded
    up to the most rows of that bucket the token budget holds (`pad_rows`), so a bucket is one shape."""

    max_tokens: int
    max_source: int
    max_target: int
    source_multiple: int = 64
    target_multiple: int = 16
    decoder_only: bool = False
    pad_rows: bool = True

    def _len(self, n: int, multiple: int, cap: int) -> int:
        return max(n, min(round_up(n, multiple), cap))

    def lengths(self, costs: Sequence[Cost]) -> tuple[int, int]:
        t = self._len(max(c[1] for c in costs), self.target_multiple, self.max_target)
        if self.decoder_only:  # one sequence: prompt + target
            return self._len(max(c[0] + c[1] for c in costs), self.source_multiple, self.max_source + self.max_target), t
        return self._len(max(c[0] for c in costs), self.source_multiple, self.max_source), t

    def _per_row(self, s: int, t: int) -> int:
        return s if self.decoder_only else s + t

    def batch_cost(self, costs: Sequence[Cost]) -> int:
        """Padded tokens of the batch at its bucketed lengths: what the token budget bounds."""
        s, t = self.lengths(costs)
        return len(costs) * self._per_row(s, t)

    def shape(self, costs: Sequence[Cost]) -> BatchShape:
        s, t = self.lengths(costs)
        rows = len(costs)
        if self.pad_rows:
            rows = max(rows, self.max_tokens // self._per_row(s, t))
        return BatchShape(rows, s, t)

    def padding(self, batches: Sequence[Sequence[Cost]]) -> dict:
        """Real vs computed tokens over `batches`, bucketed and not: the price of static shapes."""
        real = sum(c[0] + c[1] for b in batches for c in b)
        plain = sum(len(b) * (max(c[0] for c in b) + max(c[1] for c in b)) for b in batches)
        bucketed = 0
        shapes = set()
        for b in batches:
            shape = self.shape(b)
            shapes.add(shape)
            bucketed += shape.rows * self._per_row(shape.source, shape.target) if self.decoder_only else shape.tokens
        return {"real_tokens": real, "padded_tokens_plain": plain, "padded_tokens_bucketed": bucketed,
                "padding_plain": 1 - real / plain if plain else 0.0, "padding_bucketed": 1 - real / bucketed if bucketed else 0.0,
                "shapes": len(shapes)}


def bucket_policy(train_cfg, backbone, device_type: str) -> BucketPolicy | None:
    """The run's bucket policy, or None. `train.bucketing: auto` buckets where shapes cost something per new value:
    on CUDA (attention plans, cuBLAS heuristics, CUDA graphs) and whenever the step is compiled; on a CPU without
    compilation, padding would only add arithmetic."""
    mode = str(getattr(train_cfg, "bucketing", "auto")).lower()
    if mode not in ("auto", "on", "off", "true", "false"):
        from xlgen.errors import XlgenError

        raise XlgenError(f"train.bucketing: unknown value {mode!r} (known: auto, on, off)")
    on = mode in ("on", "true") or (mode == "auto" and (device_type == "cuda" or bool(getattr(train_cfg, "compile", False))))
    if not on:
        return None
    return BucketPolicy(
        max_tokens=train_cfg.max_tokens,
        max_source=backbone.max_input_length,
        max_target=backbone.max_target_length,
        source_multiple=train_cfg.bucket_source,
        target_multiple=train_cfg.bucket_target,
        decoder_only=not backbone.is_encoder_decoder,
    )
