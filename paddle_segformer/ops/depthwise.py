"""Mix-FFN's 3x3 depth-wise convolution on tokens for training on a CPU: compiled kernels, channels last.

Paddle's dygraph path turns the (B, N, C) tokens into a (B, C, H, W) map, runs its ``depthwise_conv2d``
(whose CPU gradient took 0.42 s of a 2.3 s B0 training step, the largest single op), adds the bias and
turns the map back into tokens: two transposes each way. :class:`DepthwiseTokens` convolves the tokens
where they are, (B, H, W, C) with channels contiguous, so the inner loops run over channels in SIMD
registers; the backward pass computes the input gradient with the flipped kernel and the weight and
bias gradients in one parallel pass. Only SegFormer's case is compiled (3x3, stride 1, padding 1, one
filter per channel); :class:`paddle_segformer.models.layers.DWConv` uses it where it applies (dygraph, float32,
CPU) and Paddle's own ops elsewhere (GPU, export, other dtypes).
"""
from __future__ import annotations

import numba
import numpy as np
import paddle
from paddle.autograd import PyLayer

from .tensors import CHUNKS, aligned_empty, as_numpy, to_paddle


@numba.njit(parallel=True, cache=True, nogil=True)
def _conv_kernel(x, w, bias, out) -> None:  # pragma: no cover (compiled)
    """x, out: (B, H, W, C); w: (9, C) taps in row-major order; out = bias + 3x3 depth-wise conv of x."""
    batch, height, width, channels = x.shape
    for i in numba.prange(batch * height):
        n, y = i // height, i % height
        for col in range(width):
            acc = out[n, y, col]
            acc[:] = bias
            for ky in range(3):
                yy = y + ky - 1
                if yy < 0 or yy >= height:
                    continue
                for kx in range(3):
                    xx = col + kx - 1
                    if xx < 0 or xx >= width:
                        continue
                    tap, src = w[ky * 3 + kx], x[n, yy, xx]
                    for c in range(channels):
                        acc[c] += tap[c] * src[c]


@numba.njit(parallel=True, cache=True, nogil=True)
def _param_grad_kernel(x, g, chunks, partial) -> None:  # pragma: no cover (compiled)
    """x, g: (B, H, W, C) -> partial[j, t, c]: the weight gradient of tap t (t < 9) and the bias gradient
    (t = 9) summed over the image rows of chunk j (rows split into ``chunks`` parts)."""
    batch, height, width, channels = x.shape
    rows = batch * height
    for j in numba.prange(chunks):
        acc = np.zeros((10, channels), np.float64)
        row_acc = np.zeros((10, channels), np.float32)
        for i in range(j * rows // chunks, (j + 1) * rows // chunks):
            n, y = i // height, i % height
            row_acc[:] = 0.0
            for col in range(width):
                grad = g[n, y, col]
                for c in range(channels):
                    row_acc[9, c] += grad[c]
                for ky in range(3):
                    yy = y + ky - 1
                    if yy < 0 or yy >= height:
                        continue
                    for kx in range(3):
                        xx = col + kx - 1
                        if xx < 0 or xx >= width:
                            continue
                        tap, src = row_acc[ky * 3 + kx], x[n, yy, xx]
                        for c in range(channels):
                            tap[c] += grad[c] * src[c]
            acc += row_acc  # float32 within a row, float64 across rows
        partial[j] = acc


class DepthwiseTokens(PyLayer):
    """3x3 depth-wise convolution (stride 1, zero padding 1) of tokens (B, H*W, C) -> (B, H*W, C), with
    weight (C, 1, 3, 3) and bias (C,) as Paddle's ``Conv2D(C, C, 3, padding=1, groups=C)`` holds them."""

    @staticmethod
    def forward(ctx, x: paddle.Tensor, weight: paddle.Tensor, bias: paddle.Tensor, h: int,
                w: int) -> paddle.Tensor:
        src = as_numpy(x)
        batch, _, channels = src.shape
        src = src.reshape(batch, h, w, channels)
        taps = np.ascontiguousarray(as_numpy(weight).reshape(channels, 9).T)  # (9, C)
        out = aligned_empty(src.shape)
        _conv_kernel(src, taps, as_numpy(bias), out)
        ctx.save_for_backward(x)
        ctx.taps, ctx.hw = taps, (h, w)
        return to_paddle(out.reshape(batch, h * w, channels))

    @staticmethod
    def backward(ctx, grad: paddle.Tensor):
        (x,) = ctx.saved_tensor()
        h, w = ctx.hw
        g = as_numpy(grad)
        batch, _, channels = g.shape
        g = g.reshape(batch, h, w, channels)
        grad_x = aligned_empty(g.shape)
        # The input gradient is the correlation of the output gradient with the flipped kernel.
        _conv_kernel(g, np.ascontiguousarray(ctx.taps[::-1]), np.zeros(channels, np.float32), grad_x)
        chunks = max(1, min(CHUNKS, batch * h))
        partial = np.empty((chunks, 10, channels), np.float64)
        _param_grad_kernel(as_numpy(x).reshape(batch, h, w, channels), g, chunks, partial)
        sums = partial.sum(axis=0).astype(np.float32)  # (10, C)
        grad_w = np.ascontiguousarray(sums[:9].T).reshape(channels, 1, 3, 3)
        return to_paddle(grad_x.reshape(batch, h * w, channels)), to_paddle(grad_w), to_paddle(sums[9])
