"""Bilinear resizing by the compiled kernels equals Paddle's F.interpolate, values and gradients; the
model's training forward (which uses it) trains exactly as with F.interpolate."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddle_segformer.models import segformer as model_module
from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.ops.resize import resize_add, resize_bilinear, resize_planes, resize_planes_grad


@pytest.mark.parametrize("src, dst", [((16, 16), (64, 64)), ((17, 24), (67, 93)), ((64, 48), (31, 130)),
                                      ((5, 9), (5, 9)), ((1, 3), (4, 7))])
@pytest.mark.parametrize("align_corners", [False, True])
def test_resize_matches_interpolate_values_and_gradients(src, dst, align_corners):
    x_np = np.random.default_rng(sum(src + dst)).standard_normal((2, 3) + src).astype("float32")
    g_np = np.random.default_rng(1).standard_normal((2, 3) + dst).astype("float32")
    outs, grads = [], []
    for fn in (lambda x: F.interpolate(x, size=dst, mode="bilinear", align_corners=align_corners),
               lambda x: resize_bilinear(x, dst, align_corners)):
        x = paddle.to_tensor(x_np, stop_gradient=False)
        y = fn(x)
        (y * paddle.to_tensor(g_np)).sum().backward()
        outs.append(y.numpy())
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
    np.testing.assert_allclose(grads[1], grads[0], atol=2e-5)


@pytest.mark.parametrize("src, dst", [((16, 16), (64, 64)), ((17, 24), (67, 93)), ((64, 48), (31, 130))])
def test_gradient_kernel_is_the_transpose_of_the_resize(src, dst):
    """<R x, g> == <x, R^T g> for random x and g: the backward kernel is the adjoint of the forward."""
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((4,) + src), rng.standard_normal((4,) + dst)
    forward = (resize_planes(x, dst).astype(np.float64) * g).sum()
    adjoint = (x * resize_planes_grad(g, src).astype(np.float64)).sum()
    assert abs(forward - adjoint) < 1e-4 * abs(forward)


def _train_step(use_kernels: bool, monkeypatch):
    if not use_kernels:
        monkeypatch.setattr(model_module, "resize_bilinear",
                            lambda x, size, ac: F.interpolate(x, size=list(size), mode="bilinear", align_corners=ac))
    paddle.seed(0)
    model = SegFormer(5, mit("b0"))
    model.train()
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 96)).astype("float32"))
    paddle.seed(1)  # same dropout / drop-path draws in both runs
    logits = model(x)[0]
    label = paddle.to_tensor(np.random.default_rng(1).integers(0, 5, (2, 64, 96)))
    F.cross_entropy(logits.transpose([0, 2, 3, 1]), label).backward()
    return logits.numpy(), {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}


def test_training_forward_and_gradients_equal_interpolate(monkeypatch):
    logits, grads = _train_step(True, monkeypatch)
    with monkeypatch.context() as patch:
        ref_logits, ref_grads = _train_step(False, patch)
    np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name in grads:  # relative to each gradient's size; some (norm4.bias) are ~1e-9, i.e. zero
        scale = max(np.abs(ref_grads[name]).max(), 1e-4)
        assert np.abs(grads[name] - ref_grads[name]).max() / scale < 1e-3, name


@pytest.mark.parametrize("align_corners", [False, True])
def test_resize_add_matches_interpolate_plus_base(align_corners):
    rng = np.random.default_rng(5)
    x_np, base_np = rng.standard_normal((2, 3, 9, 13)).astype("float32"), rng.standard_normal((2, 3, 36, 50))
    g = paddle.to_tensor(rng.standard_normal((2, 3, 36, 50)).astype("float32"))
    results = []
    for fn in (lambda x, b: b + F.interpolate(x, size=(36, 50), mode="bilinear", align_corners=align_corners),
               lambda x, b: resize_add(x, b, align_corners)):
        x = paddle.to_tensor(x_np, stop_gradient=False)
        base = paddle.to_tensor(base_np.astype("float32"), stop_gradient=False)
        y = fn(x, base)
        (y * g).sum().backward()
        results.append((y.numpy(), x.grad.numpy(), base.grad.numpy()))
    for ours, ref in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, ref, atol=2e-5)
