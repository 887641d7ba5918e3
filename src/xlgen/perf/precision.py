"""bf16 working weights over fp32 master weights: the weights are cast once per step, not at every use.

Under plain bf16 autocast the model keeps fp32 weights and every matrix product casts its weight to bf16 on the fly,
in the forward pass and again for the backward; on an H200 those casts (`copy_`) took more GPU time than the matrix
products of an mT5-base step, and each is a separate kernel launch. Here the model's fp32 parameters stay the master
copy — the optimizer, gradient clipping, checkpoints and the saved model see only them, so small updates (1e-6 LRs)
are not lost to bf16 rounding — and a bf16 copy of every parameter stands in for it during the forward and backward
passes. After the backward pass the bf16 gradients are added into fp32 gradients in one fused call
(`torch._foreach_add_`), and after the optimizer step the bf16 copies are refreshed in one fused copy. Autocast stays
on around the step, for fp32 buffers (positions, rotary tables) meeting bf16 weights; with bf16 weights it casts
nothing else.

This is the classic mixed-precision recipe (fp32 master weights, low-precision compute; Micikevicius et al. 2018), the
one Apex O2 and DeepSpeed's bf16 optimizer implement; neither fits in a few lines around a plain torch optimizer,
which is all this needs.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

PRECISIONS = ("auto", "native", "fp32", "bf16", "bf16-autocast")
KEEP_FP32_BUFFERS = ("inv_freq", "rotary", "rope")


def native_bf16(device: torch.device) -> bool:
    """Whether the device multiplies bf16 natively: a CUDA GPU with bf16, or a CPU with AMX-BF16 or AVX512-BF16
    (there oneDNN's bf16 products run 2-3x faster than fp32; on other CPUs bf16 is emulated and slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
        return any(check() for check in checks if check is not None)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: bf16 working weights on a GPU that supports bf16, fp32 elsewhere (so CPU results, tests included, stay
    fp32 by default). `native`: bf16 wherever the hardware multiplies bf16 natively, CPUs included (`native_bf16`),
    fp32 elsewhere: what a CPU demo wants. `bf16-autocast` keeps fp32 weights under autocast (every use casts); `bf16`
    adds the working copies. A CPU can run either (slowly without native bf16): tests do."""
    from xlgen.errors import XlgenError

    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "native":
        return "bf16" if native_bf16(device) else "fp32"
    if precision not in PRECISIONS:
        raise XlgenError(f"train.precision: unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    return precision


def uses_autocast(precision: str) -> bool:
    return precision in ("bf16", "bf16-autocast")


class WorkingWeights:
    """bf16 stand-ins for a model's parameters, swapped in for the forward and backward passes (`swapped()`).

    Tied parameters (one tensor under two names) get one stand-in, so they stay tied. Frozen parameters are cast once;
    trainable ones are refreshed from the masters by `refresh()` after every optimizer step.
    """

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype = torch.bfloat16):
        self.model = model
        self.dtype = dtype
        self.slots: list[tuple[torch.nn.Module, str, torch.nn.Parameter]] = []
        stand_in: dict[int, torch.nn.Parameter] = {}
        for module in model.modules():
            for name, p in module._parameters.items():
                if p is None or not p.is_floating_point():
                    continue
                if id(p) not in stand_in:
                    stand_in[id(p)] = torch.nn.Parameter(p.detach().to(dtype), requires_grad=p.requires_grad)
                self.slots.append((module, name, p))
        self.stand_in = stand_in
        # Floating buffers added to activations (M2M100's sinusoidal positions) would turn bf16 activations back into
        # fp32 and meet bf16 norm weights; they get bf16 copies too, cast once. Rotary frequency tables stay fp32: the
        # models compute their angles in fp32 and cast the result (a bf16 `inv_freq` is a known accuracy bug).
        self.buffer_slots: list[tuple[torch.nn.Module, str, torch.Tensor, torch.Tensor]] = []
        for module in model.modules():
            for name, b in module._buffers.items():
                if b is not None and b.is_floating_point() and b.dtype != dtype and not any(k in name.lower() for k in KEEP_FP32_BUFFERS):
                    self.buffer_slots.append((module, name, b, b.to(dtype)))
        masters = {id(p): p for _, _, p in self.slots}
        self.trainable = [(masters[k], w) for k, w in stand_in.items() if w.requires_grad]
        self._grad_buffers: list[torch.Tensor] | None = None

    @contextmanager
    def swapped(self):
        """The model computes with the bf16 copies inside this block (gradients land on them)."""
        for module, name, p in self.slots:
            module._parameters[name] = self.stand_in[id(p)]
        for module, name, _, low in self.buffer_slots:
            module._buffers[name] = low
        try:
            yield
        finally:
            for module, name, p in self.slots:
                module._parameters[name] = p
            for module, name, original, _ in self.buffer_slots:
                module._buffers[name] = original

    @torch.no_grad()
    def collect_grads(self) -> None:
        """Move the bf16 gradients of the last backward pass into the fp32 masters' gradients: copied into persistent
        fp32 buffers on the first micro-batch of a step, added on the next ones (accumulation in fp32)."""
        if self._grad_buffers is None:
            self._grad_buffers = [torch.empty_like(m) for m, _ in self.trainable]
        first = [(m, w, b) for (m, w), b in zip(self.trainable, self._grad_buffers) if w.grad is not None and m.grad is None]
        more = [(m, w) for m, w in self.trainable if w.grad is not None and m.grad is not None]
        if first:
            torch._foreach_copy_([b for _, _, b in first], [w.grad for _, w, _ in first])
            for m, _, b in first:
                m.grad = b
        if more:
            torch._foreach_add_([m.grad for m, _ in more], [w.grad for _, w in more])
        for _, w in self.trainable:
            w.grad = None

    @torch.no_grad()
    def refresh(self) -> None:
        """Copy the (updated) fp32 masters into the bf16 copies: one fused cast per step."""
        if self.trainable:
            torch._foreach_copy_([w for _, w in self.trainable], [m for m, _ in self.trainable])

    @torch.no_grad()
    def refresh_all(self) -> None:
        """After weights changed outside the optimizer (a checkpoint was loaded)."""
        for _, _, p in self.slots:
            self.stand_in[id(p)].copy_(p)
        for _, _, original, low in self.buffer_slots:
            low.copy_(original)
