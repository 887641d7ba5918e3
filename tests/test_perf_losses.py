"""The chunked linear cross-entropy equals the plain path (every position's logits at once) in loss and gradients."""

import pytest
import torch

from xlgen.perf.losses import linear_cross_entropy, plain_cross_entropy


def _case(n=37, d=16, vocab=301, bias=False, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=g).to(dtype).requires_grad_()
    weight = (torch.randn(vocab, d, generator=g) * 0.3).to(dtype).requires_grad_()
    b = (torch.randn(vocab, generator=g) * 0.1).to(dtype).requires_grad_() if bias else None
    labels = torch.randint(0, vocab, (n,), generator=g)
    labels[::5] = -100
    return hidden, weight, b, labels


def _grads(fn, hidden, weight, bias, labels, **kw):
    leaves = [t for t in (hidden, weight, bias) if t is not None]
    for t in leaves:
        t.grad = None
    loss = fn(hidden, weight, labels, bias, **kw)
    (loss * 0.37).backward()  # a scale other than 1 checks that backward applies the incoming gradient
    return loss.detach(), [t.grad.clone() for t in leaves]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("softcap", [None, 5.0])
@pytest.mark.parametrize("chunk", [301 * 4, 301 * 64])  # several chunks (4 rows each) and one
def test_chunked_equals_plain_fp32(bias, softcap, chunk):
    h, w, b, y = _case(bias=bias)
    ref_loss, ref_grads = _grads(plain_cross_entropy, h, w, b, y, softcap=softcap)
    loss, grads = _grads(linear_cross_entropy, h, w, b, y, softcap=softcap, chunk_elements=chunk)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_chunked_under_bf16_autocast_is_as_accurate_as_plain():
    """Under autocast both paths project in bf16 and take the softmax in fp32. Measured against the fp32 result, the
    chunked path's error is no larger than the plain path's (bf16 rounding, not a different computation)."""
    h, w, b, y = _case(n=64, d=32, vocab=257, bias=True)
    exact_loss, exact = _grads(plain_cross_entropy, h, w, b, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref_loss, ref_grads = _grads(plain_cross_entropy, h, w, b, y)
        loss, grads = _grads(linear_cross_entropy, h, w, b, y, chunk_elements=257 * 8)
    assert abs(loss - exact_loss) <= 1.5 * abs(ref_loss - exact_loss) + 1e-3 * abs(exact_loss)
    for g, r, e in zip(grads, ref_grads, exact):
        assert g.dtype == r.dtype
        assert (g - e).abs().max() <= 1.5 * (r - e).abs().max() + 1e-6


def test_bf16_weights_give_bf16_gradients():
    h, w, b, y = _case(n=20, d=16, vocab=101, dtype=torch.bfloat16)
    ref_loss, ref_grads = _grads(plain_cross_entropy, h, w, b, y)
    loss, grads = _grads(linear_cross_entropy, h, w, b, y, chunk_elements=101 * 3)
    assert all(g.dtype == torch.bfloat16 for g in grads)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-2, atol=1e-2)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g.float(), r.float(), rtol=5e-2, atol=5e-3)


def test_frozen_projection_gets_no_gradient():
    h, w, _, y = _case()
    w.requires_grad_(False)
    linear_cross_entropy(h, w, y, chunk_elements=301 * 4).backward()
    assert w.grad is None and h.grad is not None


def test_all_ignored_gives_zero_loss_and_gradient():
    h, w, _, y = _case(n=8)
    y[:] = -100
    loss = linear_cross_entropy(h, w, y, chunk_elements=301 * 3)
    loss.backward()
    assert loss.item() == 0 and h.grad.abs().max().item() == 0 and w.grad.abs().max().item() == 0
