"""Cross-entropy through the output projection without materialising the logits of every position.

With a 250k vocabulary the output layer dominates memory traffic: a 16,000-token mT5 batch with ~2,000 target
positions makes 2,000 x 250k logits, in bf16, again in fp32 for the softmax, and again as their gradient — gigabytes
written and read for one scalar. `linear_cross_entropy` walks the positions in chunks; for each chunk it computes the
logits, the summed loss and, at once, the chunk's gradients with respect to the hidden states and the projection
(softmax minus one-hot times the incoming weights), then drops the logits. The backward pass only scales the stored
gradients by the incoming gradient, so no logits are recomputed and none are kept: peak extra memory is one chunk.
This is the scheme of Liger-Kernel's fused linear cross-entropy, which needs Triton and a GPU; `loss_impl: liger`
uses that library where it is installed on a CUDA machine, and this short implementation runs everywhere else.

Positions labelled -100 contribute nothing. Logits are computed in the hidden states' dtype (bf16 on GPU: tensor
cores, fp32 accumulation) and the softmax in fp32, as the plain path (`logits.float()`) does.
"""

from __future__ import annotations

import torch

IGNORE = -100
# Logit elements per chunk: 2^25 fp32 values = 128 MiB, large enough to keep a GPU's matrix units busy.
CHUNK_ELEMENTS = 1 << 25


def _chunk_rows(n: int, vocab: int, chunk_elements: int) -> int:
    return max(1, min(n, chunk_elements // max(vocab, 1)))


def _softcapped(logits: torch.Tensor, softcap: float | None) -> torch.Tensor:
    return torch.tanh(logits / softcap) * softcap if softcap else logits


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, labels, softcap, chunk_elements):
        n, vocab = hidden.shape[0], weight.shape[0]
        rows = _chunk_rows(n, vocab, chunk_elements)
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = bias is not None and ctx.needs_input_grad[2]
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        # Accumulated over chunks in fp32 whatever the weights' dtype; cast once at the end.
        grad_w = None  # the first chunk's product, then accumulated (no memset of a vocabulary-sized buffer)
        grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if need_b else None
        for start in range(0, n, rows):
            h = hidden[start : start + rows]
            y = labels[start : start + rows]
            raw = h @ weight.t()
            if bias is not None:
                raw = raw + bias
            z = raw.float()
            capped = _softcapped(z, softcap)
            valid = y != IGNORE
            safe_y = torch.where(valid, y, torch.zeros_like(y))
            lse = torch.logsumexp(capped, dim=-1)
            picked = capped.gather(1, safe_y[:, None]).squeeze(1)
            loss = loss + ((lse - picked) * valid).sum()
            if need_h or need_w or need_b:
                # d loss / d capped = softmax - onehot, on valid rows only.
                g = torch.softmax(capped, dim=-1)
                g.scatter_add_(1, safe_y[:, None], torch.full_like(picked[:, None], -1.0))
                g.mul_(valid[:, None])
                if softcap:  # d capped / d z = 1 - tanh^2
                    g.mul_(1 - (capped / softcap) ** 2)
                g_low = g.to(hidden.dtype)
                if need_h:
                    grad_h[start : start + rows] = g_low @ weight
                if need_w:
                    if grad_w is None:
                        grad_w = (g_low.t() @ h).float()
                    elif weight.dtype == torch.float32:  # (the out= form: FlopCounterMode does not count addmm_)
                        torch.addmm(grad_w, g_low.t(), h, out=grad_w)
                    else:  # a low-precision product per chunk (fp32 accumulation inside), summed in fp32
                        grad_w.add_(g_low.t() @ h)
                if need_b:
                    grad_b.add_(g.sum(0))
        # Gradients of the hidden states keep their dtype; the projection's stay in fp32 until scaled (the incoming
        # gradient, 1/target tokens, is applied in fp32, then rounded once).
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        scale = grad_out.to(torch.float32)
        dtypes = ctx.dtypes

        def scaled(g, dtype):
            return None if g is None else (g.float() * scale).to(dtype)

        return scaled(grad_h, dtypes[0]), scaled(grad_w, dtypes[1]), scaled(grad_b, dtypes[2]), None, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, bias: torch.Tensor | None = None,
                         softcap: float | None = None, *, chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """Summed cross-entropy of `hidden @ weight.T (+ bias)` (optionally soft-capped, as Gemma) against `labels`,
    ignoring -100: the value of `F.cross_entropy(logits.float(), labels, reduction="sum")`, chunk by chunk."""
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    if torch.is_autocast_enabled(hidden.device.type):
        # The projection runs in the autocast dtype, as `nn.Linear` would under autocast; the Function itself runs
        # with autocast off so its own casts are explicit.
        dtype = torch.get_autocast_dtype(hidden.device.type)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
        with torch.autocast(hidden.device.type, enabled=False):
            return _LinearCrossEntropy.apply(hidden, weight, bias, labels, softcap, chunk_elements)
    return _LinearCrossEntropy.apply(hidden, weight, bias, labels, softcap, chunk_elements)


def plain_cross_entropy(hidden, weight, labels, bias=None, softcap=None) -> torch.Tensor:
    """The reference: every position's logits at once (what the model's own head and `F.cross_entropy` do)."""
    logits = torch.nn.functional.linear(hidden.reshape(-1, hidden.shape[-1]), weight, bias)
    logits = _softcapped(logits.float(), softcap)
    return torch.nn.functional.cross_entropy(logits, labels.reshape(-1), ignore_index=IGNORE, reduction="sum")


def liger_cross_entropy(hidden, weight, labels, bias=None, softcap=None) -> torch.Tensor:
    """Liger-Kernel's fused linear cross-entropy (Triton, CUDA only)."""
    from liger_kernel.ops.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyFunction

    hidden = hidden.reshape(-1, hidden.shape[-1])
    if torch.is_autocast_enabled(hidden.device.type):
        dtype = torch.get_autocast_dtype(hidden.device.type)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
    out = LigerFusedLinearCrossEntropyFunction.apply(hidden, weight, labels.reshape(-1), bias, None, IGNORE, 0.0, 0.0, "sum", softcap)
    return out[0] if isinstance(out, tuple) else out


LOSS_IMPLS = {"chunked": linear_cross_entropy, "plain": plain_cross_entropy, "liger": liger_cross_entropy}


def resolve_loss_impl(name: str, device_type: str) -> str:
    """`auto`: the chunked implementation everywhere (Liger only when asked for: it is checked against the chunked
    one by the GPU session script before any default relies on it)."""
    from xlgen.errors import XlgenError

    name = (name or "auto").lower()
    if name == "auto":
        return "chunked"
    if name not in LOSS_IMPLS:
        raise XlgenError(f"train.loss_impl: unknown value {name!r} (known: auto, {', '.join(LOSS_IMPLS)})")
    if name == "liger":
        try:
            import liger_kernel  # noqa: F401
        except ImportError:
            raise XlgenError("train.loss_impl: liger needs Liger-Kernel (pip install liger-kernel) and a CUDA device") from None
        if device_type != "cuda":
            raise XlgenError("train.loss_impl: liger runs on CUDA only (Triton kernels)")
    return name
