"""Batches built by a token budget with length grouping, in a deterministic, resumable order.

A fixed number of examples per batch pads every example to the longest one in it and makes the number of tokens per
step vary tenfold between a batch of short and one of long inputs. Like fairseq's `max_tokens`, we sort examples by
length (ties broken by a seeded shuffle), cut the sorted list into batches whose padded size fits the budget, and
shuffle the order of the batches. transformers offers `group_by_length` for a fixed batch size only, so this is ours.
The order of epoch e depends only on (seed, e), so a resumed run replays exactly the batches it would have seen.
"""

from __future__ import annotations

import random
from typing import Callable, Iterator, Sequence

Cost = tuple[int, int]


def padded_cost(costs: Sequence[Cost]) -> int:
    """Padded tokens of a batch: rows x (longest source + longest target)."""
    return len(costs) * (max(c[0] for c in costs) + max(c[1] for c in costs))


def token_budget_batches(
    costs: Sequence[Cost],
    max_tokens: int,
    *,
    seed: int | None = None,
    batch_cost: Callable[[Sequence[Cost]], int] = padded_cost,
    max_batch_size: int | None = None,
    descending: bool = False,
) -> list[list[int]]:
    """Group example indices into batches whose `batch_cost` is at most `max_tokens`.

    With a seed, ties are shuffled and the batch order is shuffled (training); without, batches follow length order
    (evaluation, where `descending=True` puts the longest first so that memory problems show at once). An example
    larger than the budget on its own gets a batch of its own.
    """
    order = list(range(len(costs)))
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(order)
    order.sort(key=lambda i: (costs[i][0] + costs[i][1], costs[i][0]), reverse=descending)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        candidate = current + [i]
        too_many = max_batch_size is not None and len(candidate) > max_batch_size
        if current and (too_many or batch_cost([costs[j] for j in candidate]) > max_tokens):
            batches.append(current)
            current = [i]
        else:
            current = candidate
    if current:
        batches.append(current)
    if seed is not None:
        rng.shuffle(batches)
    return batches


class BatchStream:
    """Endless training batches: epoch after epoch, each a seeded permutation of token-budget batches.

    The position (epoch, index within the epoch) is all a checkpoint needs to resume the same data order.
    """

    def __init__(self, costs: Sequence[Cost], max_tokens: int, seed: int, batch_cost: Callable[[Sequence[Cost]], int] = padded_cost):
        if not costs:
            raise ValueError("no training examples")
        self.costs = list(costs)
        self.max_tokens = max_tokens
        self.seed = seed
        self.batch_cost = batch_cost
        self.epoch = 0
        self.index = 0
        self._batches: list[list[int]] | None = None

    def _epoch_batches(self) -> list[list[int]]:
        if self._batches is None:
            self._batches = token_budget_batches(self.costs, self.max_tokens, seed=self.seed * 100_003 + self.epoch, batch_cost=self.batch_cost)
        return self._batches

    def __iter__(self) -> Iterator[list[int]]:
        return self

    def __next__(self) -> list[int]:
        batches = self._epoch_batches()
        if self.index >= len(batches):
            self.epoch += 1
            self.index = 0
            self._batches = None
            batches = self._epoch_batches()
        batch = batches[self.index]
        self.index += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.index = int(state["index"])
        self._batches = None
