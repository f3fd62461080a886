"""The model's Linear / Conv2D add their bias with compiled kernels on a CPU: same values and gradients
as Paddle's layers, Paddle's own path where the kernels do not apply."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

from paddle_segformer.ops import bias as bias_module
from paddle_segformer.ops.bias import AddBias, Conv2D, Linear


def _compare(ours, ref, shape):
    ref.set_state_dict(ours.state_dict())
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype("float32")
    results = []
    for layer in (ref, ours):
        x = paddle.to_tensor(x_np, stop_gradient=False)
        y = layer(x)
        g = paddle.to_tensor(np.random.default_rng(1).standard_normal(y.shape).astype("float32"))
        (y * g).sum().backward()
        results.append([y.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
        layer.clear_gradients()
    for mine, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-4)


def test_linear_equals_paddle_values_and_gradients():
    _compare(Linear(32, 48), nn.Linear(32, 48), (2, 300, 32))


@pytest.mark.parametrize("kwargs", [dict(in_channels=16, out_channels=16, kernel_size=3, padding=1, groups=16),
                                    dict(in_channels=3, out_channels=8, kernel_size=7, stride=4, padding=3),
                                    dict(in_channels=8, out_channels=8, kernel_size=2, stride=2)])
def test_conv2d_equals_paddle_values_and_gradients(kwargs):
    _compare(Conv2D(**kwargs), nn.Conv2D(**kwargs), (2, kwargs["in_channels"], 21, 30))


def test_kernels_only_where_they_apply(monkeypatch):
    calls = []
    monkeypatch.setattr(AddBias, "apply", lambda *a: calls.append(1) or a[0] + a[1])
    layer = Linear(4, 3)
    x = paddle.randn([2, 5, 4])
    layer(x)
    assert calls == [1]  # training a float32 CPU layer: the kernel
    layer.bias.stop_gradient = True
    layer(x)  # nothing needs a gradient: Paddle's linear
    no_bias = Linear(4, 3, bias_attr=False)
    no_bias(x)
    assert calls == [1]
    conv = Conv2D(2, 2, 3, padding=1, padding_mode="reflect")
    conv(paddle.randn([1, 2, 6, 6]))
    assert calls == [1]
    assert not bias_module._fast(x.astype("float64"), paddle.zeros([3], "float64"))
