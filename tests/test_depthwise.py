"""Mix-FFN's depth-wise convolution through the compiled channels-last kernels: the same values and
gradients as Paddle's Conv2D on the (B, C, H, W) map, Paddle's own ops where the kernels do not apply."""
import numpy as np
import paddle
import pytest

from paddle_segformer.models.layers import DWConv, map_to_tokens, tokens_to_map
from paddle_segformer.ops.depthwise import DepthwiseTokens


def _run(layer: DWConv, x_np: np.ndarray, g_np: np.ndarray, h: int, w: int, reference: bool):
    x = paddle.to_tensor(x_np, stop_gradient=False)
    if reference:  # Paddle's own depth-wise conv on the map
        y = map_to_tokens(paddle.nn.Conv2D.forward(layer.dwconv, tokens_to_map(x, h, w)))
    else:
        y = layer(x, h, w)
    (y * paddle.to_tensor(g_np)).sum().backward()
    result = [y.numpy(), x.grad.numpy(), layer.dwconv.weight.grad.numpy(), layer.dwconv.bias.grad.numpy()]
    layer.clear_gradients()
    return result


@pytest.mark.parametrize("batch,h,w,channels", [(2, 5, 7, 8), (1, 1, 1, 3), (2, 16, 9, 64), (1, 3, 40, 5)])
def test_values_and_gradients_equal_paddles_conv(batch, h, w, channels):
    paddle.seed(0)
    layer = DWConv(channels)
    rng = np.random.default_rng(0)
    layer.dwconv.bias.set_value(rng.standard_normal(channels).astype("float32"))
    x_np = rng.standard_normal((batch, h * w, channels)).astype("float32")
    g_np = rng.standard_normal((batch, h * w, channels)).astype("float32")
    ours = _run(layer, x_np, g_np, h, w, reference=False)
    theirs = _run(layer, x_np, g_np, h, w, reference=True)
    for name, mine, ref in zip(("out", "grad x", "grad weight", "grad bias"), ours, theirs):
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=2e-5, err_msg=name)


def test_kernel_only_where_it_applies(monkeypatch):
    calls = []
    real = DepthwiseTokens.apply
    monkeypatch.setattr(DepthwiseTokens, "apply", lambda *a: calls.append(1) or real(*a))
    layer = DWConv(4)
    x = paddle.randn([1, 6, 4])
    layer(x, 2, 3)
    assert calls == [1]  # a trainable float32 layer on the CPU: the kernel
    with paddle.no_grad():
        layer(x, 2, 3)  # evaluation: Paddle's conv (and the layer's hooks)
    layer.dwconv.weight.stop_gradient = True
    layer(x, 2, 3)  # frozen weights: Paddle's conv
    layer64 = DWConv(4)
    layer64.to(dtype="float64")
    layer64(x.astype("float64"), 2, 3)
    assert calls == [1]


def test_flops_leaves_no_buffers_behind():
    """paddle.flops (run at the end of PaddleSeg's training) hooks every layer; one bypassed by a kernel
    would keep its counting buffers, and they would reach the checkpoint."""
    layer = DWConv(4)
    keys = set(layer.state_dict())
    paddle.flops(_Wrap(layer), [1, 6, 4], print_detail=False)  # runs the model under no_grad
    assert set(layer.state_dict()) == keys


class _Wrap(paddle.nn.Layer):
    def __init__(self, dw: DWConv):
        super().__init__()
        self.dw = dw

    def forward(self, x):
        return self.dw(x, 2, 3)
