"""The compiled CPU cross-entropy gives PaddleSeg's CrossEntropyLoss numbers (loss and gradient), and
PaddleSeg's own code runs for every case it does not cover."""
import numpy as np
import paddle
import pytest
from paddleseg.models.losses import CrossEntropyLoss

import paddle_segformer
from paddle_segformer.models import losses
from paddle_segformer.ops import cross_entropy

CLASSES = 7


@pytest.fixture(autouse=True)
def _registered():
    paddle_segformer.register()  # installs the kernel (and PaddleSeg's Paddle 3 fixes)
    yield
    losses.install_fast_cross_entropy()


def _data(seed=0, shape=(2, CLASSES, 13, 17)):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal(shape) * 4).astype("float32")
    labels = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    labels[:, :3] = 255
    return logits, labels


def _loss_and_grad(loss_fn, logits, labels, fast, **kwargs):
    losses.install_fast_cross_entropy() if fast else losses.uninstall_fast_cross_entropy()
    x = paddle.to_tensor(logits, stop_gradient=False)
    loss = loss_fn(x, paddle.to_tensor(labels), **kwargs)
    (loss * 3.0).backward()  # a non-unit upstream gradient
    return float(loss), x.grad.numpy()


def _reference(logits, labels, weight=None, avg_non_ignore=True):
    """PaddleSeg's formula in float64 numpy: mean(w[y] * (lse - z_y)) / (mean(mask * w[y]) + 1e-8)."""
    z = logits.astype(np.float64)
    top = z.max(1, keepdims=True)
    lse = (top + np.log(np.exp(z - top).sum(1, keepdims=True)))[:, 0]
    valid = labels != 255
    t = np.where(valid, labels, 0)
    w = np.ones(z.shape[1]) if weight is None else np.asarray(weight, np.float64)
    per_pixel = np.where(valid, w[t] * (lse - np.take_along_axis(z, t[:, None], 1)[:, 0]), 0)
    coef = np.where(valid, w[t], 0) if avg_non_ignore else np.ones_like(per_pixel)
    return per_pixel.mean() / (coef.mean() + 1e-8)


@pytest.mark.parametrize("kwargs", [{}, {"weight": [0.5, 1, 2, 1.5, 0.7, 1.2, 3.0]}, {"avg_non_ignore": False}])
def test_kernel_equals_paddleseg_loss_and_gradient(kwargs):
    logits, labels = _data()
    loss_fn = CrossEntropyLoss(**kwargs)
    ref_loss, ref_grad = _loss_and_grad(loss_fn, logits, labels, fast=False)
    loss, grad = _loss_and_grad(loss_fn, logits, labels, fast=True)
    assert loss == pytest.approx(_reference(logits, labels, **kwargs), rel=1e-6)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-6 * np.abs(ref_grad).max())
    assert (grad[:, :, :3] == 0).all()  # ignored pixels get no gradient


def test_labels_with_a_channel_axis_and_other_integer_types():
    logits, labels = _data(1)
    loss_fn = CrossEntropyLoss()
    ref_loss, ref_grad = _loss_and_grad(loss_fn, logits, labels, fast=False)
    for variant in (labels[:, None], labels.astype("int32")):
        loss, grad = _loss_and_grad(loss_fn, logits, variant, fast=True)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=1e-6 * np.abs(ref_grad).max())


def test_calls_it_does_not_cover_run_paddleseg_code(monkeypatch):
    calls = []
    original = losses._ORIGINAL["forward"]
    monkeypatch.setitem(losses._ORIGINAL, "forward", lambda *a: calls.append(1) or original(*a))
    logits, labels = _data(2)
    x, y = paddle.to_tensor(logits), paddle.to_tensor(labels)
    CrossEntropyLoss()(x, y)
    assert calls == []  # covered: the kernel
    CrossEntropyLoss(top_k_percent_pixels=0.5)(x, y)
    CrossEntropyLoss()(x, y, semantic_weights=paddle.ones(y.shape))
    CrossEntropyLoss()(x.astype("float64"), y)
    CrossEntropyLoss(data_format="NHWC")(x.transpose([0, 2, 3, 1]), y)
    assert len(calls) == 4


def test_label_out_of_range_is_an_error_and_nan_propagates():
    logits, labels = _data(3)
    labels[0, 5, 5] = CLASSES
    with pytest.raises(ValueError, match=f"label value {CLASSES} is outside 0..{CLASSES - 1}"):
        CrossEntropyLoss()(paddle.to_tensor(logits), paddle.to_tensor(labels))
    labels[0, 5, 5] = 0
    logits[1, 2, 7, 7] = np.nan
    assert np.isnan(float(CrossEntropyLoss()(paddle.to_tensor(logits), paddle.to_tensor(labels))))


def test_install_is_idempotent_and_unregister_restores_paddleseg():
    assert losses.install_fast_cross_entropy() is False  # already installed by register()
    paddle_segformer.unregister()
    assert CrossEntropyLoss.forward is losses._ORIGINAL.get("forward", CrossEntropyLoss.forward)
    assert CrossEntropyLoss.forward is not losses._ce_forward
    paddle_segformer.register()
    assert CrossEntropyLoss.forward is losses._ce_forward
