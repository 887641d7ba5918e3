"""The next step's batches prepared on a background thread while the device computes the current one.

Collating (Python lists into padded tensors) costs milliseconds of host time per step; done in the loop, the GPU
waits for it. Here a thread draws each step's micro-batches from the training stream, collates them (bucketed,
into pinned memory on CUDA) and queues them; the loop only issues non-blocking copies to the device. The stream is
read ahead, so a checkpoint must not record its live position: each prepared step carries the stream's state right
after it was drawn, and `position` (what the checkpoint saves) is that of the last step the loop took.
"""

from __future__ import annotations

import copy
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class PreparedStep:
    items: list[list]  # the examples of each micro-batch
    batches: list[dict[str, torch.Tensor]]  # their collated tensors (host memory)
    stream_state: dict
    epoch: int
    n_target: int = field(init=False)
    n_tokens: int = field(init=False)
    n_computed: int = field(init=False)  # tokens the padded tensors hold: rows x (source + target)

    def __post_init__(self):
        self.n_target = sum(len(e.labels) for micro in self.items for e in micro)
        self.n_tokens = sum(len(e.input_ids) + len(e.labels) for micro in self.items for e in micro)
        self.n_computed = sum(b["input_ids"].numel() + (b["labels"].numel() if _separate_target(b) else 0) for b in self.batches)


def _separate_target(batch: dict) -> bool:
    """Encoder-decoder labels are a second sequence the decoder computes over; decoder-only labels (`label_ids`) and
    encoder labels (on the input positions, or one class per row: batches with a `kind`) add no computed tokens."""
    return batch.get("labels") is not None and "label_ids" not in batch and "kind" not in batch


class StreamPosition:
    """What a checkpoint saves of the stream: the position after the last step the loop consumed."""

    def __init__(self, stream):
        self.stream = stream
        self.state = copy.deepcopy(stream.state_dict())
        self.epoch = stream.epoch

    def state_dict(self) -> dict:
        return self.state


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Host-to-device copies that do not block the host (from pinned memory on CUDA)."""
    non_blocking = device.type == "cuda"
    # Non-tensor entries (the encoder family's batch `kind`) pass through.
    return {k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v for k, v in batch.items()}


class Prefetcher:
    """Iterates over prepared steps: `depth` steps ahead on a thread (`background=True`), or drawn on demand."""

    def __init__(self, stream, collate: Callable[[list], dict], *, micro_batches: int, device: torch.device, depth: int = 2, background: bool = True):
        self.stream = stream
        self.collate = collate
        self.micro_batches = micro_batches
        self.pin = device.type == "cuda"
        self.position = StreamPosition(stream)
        self.background = background
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread = None
        if background:
            self._thread = threading.Thread(target=self._work, name="xlgen-prefetch", daemon=True)
            self._thread.start()

    def _prepare(self) -> PreparedStep:
        items = [next(self.stream) for _ in range(self.micro_batches)]
        state = copy.deepcopy(self.stream.state_dict())
        batches = [self.collate(micro) for micro in items]
        if self.pin:
            batches = [{k: v.pin_memory() if torch.is_tensor(v) else v for k, v in b.items()} for b in batches]
        return PreparedStep(items, batches, state, self.stream.epoch)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._prepare()
            except BaseException as e:  # handed to the loop, which raises it
                item = e
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def __iter__(self):
        return self

    def __next__(self) -> PreparedStep:
        item = self._queue.get() if self.background else self._prepare()
        if isinstance(item, BaseException):
            raise item
        self.position.state, self.position.epoch = item.stream_state, item.epoch
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
