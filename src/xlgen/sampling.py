"""The training data stream: which examples form each micro-batch.

Task examples come in token-budget batches (xlgen.batching). With several source languages, each batch draws its
language uniformly (the paper: "selecting them uniformly when forming mini-batches") from per-language streams; with
mixing-in, each element of a batch is replaced, with probability p, by a self-supervised example in a target language
drawn uniformly. Every random choice comes from one seeded generator whose state is checkpointed, so a resumed run
sees the same batches.
"""

from __future__ import annotations

import random
from typing import Sequence

from xlgen.batching import BatchStream, padded_cost


class TrainingStream:
    def __init__(
        self,
        groups: dict[str, Sequence],
        *,
        max_tokens: int,
        seed: int,
        batch_cost=padded_cost,
        sampling: str = "uniform",
        mix: dict[str, Sequence] | None = None,
        mix_probability: float = 0.0,
    ):
        if not groups or not any(groups.values()):
            raise ValueError("no training examples")
        if sampling not in ("uniform", "proportional"):
            from xlgen.errors import XlgenError

            raise XlgenError(f"data.source_sampling: unknown sampling {sampling!r} (known: uniform, proportional)")
        if sampling == "proportional" or len(groups) == 1:
            pooled = [e for items in groups.values() for e in items]
            self.groups = {"*": pooled}
        else:
            self.groups = {k: list(v) for k, v in groups.items() if v}
        self.streams = {k: BatchStream([e.cost for e in items], max_tokens, seed + i, batch_cost) for i, (k, items) in enumerate(sorted(self.groups.items()))}
        self.mix = {k: list(v) for k, v in (mix or {}).items() if v}
        self.mix_probability = mix_probability if self.mix else 0.0
        self.rng = random.Random(seed)
        self.last_sources: list[str] = []  # per element of the last batch: its language, or "mix:<lang>"

    @property
    def epoch(self) -> int:
        return max(s.epoch for s in self.streams.values())

    def __iter__(self):
        return self

    def __next__(self) -> list:
        key = self.rng.choice(sorted(self.streams)) if len(self.streams) > 1 else next(iter(self.streams))
        items = [self.groups[key][i] for i in next(self.streams[key])]
        self.last_sources = [key] * len(items)
        if self.mix_probability > 0:
            mix_langs = sorted(self.mix)
            for j in range(len(items)):
                if self.rng.random() < self.mix_probability:
                    lang = self.rng.choice(mix_langs)
                    items[j] = self.mix[lang][self.rng.randrange(len(self.mix[lang]))]
                    self.last_sources[j] = f"mix:{lang}"
        return items

    def state_dict(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        return {"streams": {k: s.state_dict() for k, s in self.streams.items()}, "rng": [version, list(internal), gauss]}

    def load_state_dict(self, state: dict) -> None:
        for k, s in state["streams"].items():
            self.streams[k].load_state_dict(s)
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
