"""Bilinear resizing as Paddle's ``F.interpolate`` computes it, by compiled CPU kernels.

``taps`` are the source indices and weights of ``bilinear_interp`` (``align_mode=0``): half-pixel
source coordinates clamped at 0, or corner-aligned ones. ``resize_planes`` / ``resize_planes_grad`` apply
them separably (rows, then columns) and their transpose, one plane per thread (numba). ``resize_bilinear``
wraps both as a Paddle autograd op for training on a CPU: Paddle's own ``bilinear_interp`` backward was
the largest single cost of a training step there (the 150-class 128 -> 512 upsampling of B0, batch 2:
1.57 s forward + backward; as two matrix products 0.52 s; these kernels about 0.18 s). Tensors cross
between Paddle and numpy through DLPack, without copies.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numba
import numpy as np
import paddle
from paddle.autograd import PyLayer

from .layout import channels_first
from .tensors import aligned_empty, as_numpy, to_paddle


def taps(n_in: int, n_out: int, align_corners: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices i0, i1 (n_out,) and the weight of i1 (float32) for each output index."""
    dst = np.arange(n_out, dtype=np.float32)
    if align_corners:
        ratio = np.float32((n_in - 1) / (n_out - 1)) if n_out > 1 else np.float32(0)
        src = dst * ratio
    else:
        src = np.maximum((dst + np.float32(0.5)) * np.float32(n_in / n_out) - np.float32(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


@numba.njit(parallel=True, cache=True)
def _resize_kernel(x, base, y0, y1, wy, x0, x1, wx, out) -> None:  # pragma: no cover (compiled)
    """out[p] = bilinear resize of x[p] (+ base[p] when ``base`` is not empty): each output row from two
    source rows, then along the row."""
    add = base.shape[0] > 0
    for p in numba.prange(x.shape[0]):
        row = np.empty(x.shape[2], np.float32)
        for i in range(y0.shape[0]):
            a, b, fy = y0[i], y1[i], wy[i]
            gy = np.float32(1) - fy
            for q in range(x.shape[2]):
                row[q] = x[p, a, q] * gy + x[p, b, q] * fy
            for j in range(x0.shape[0]):
                value = row[x0[j]] * (np.float32(1) - wx[j]) + row[x1[j]] * wx[j]
                out[p, i, j] = base[p, i, j] + value if add else value


@numba.njit(parallel=True, cache=True)
def _resize_grad_kernel(g, y0, y1, wy, x0, x1, wx, out) -> None:  # pragma: no cover (compiled)
    """The transpose of :func:`_resize_kernel`: out[p] (h, w) gathers g[p] (H, W) through the same taps."""
    for p in numba.prange(g.shape[0]):
        out[p] = 0
        row = np.empty(out.shape[2], np.float32)
        for i in range(y0.shape[0]):
            row[:] = 0
            for j in range(x0.shape[0]):
                v = g[p, i, j]
                row[x0[j]] += v * (np.float32(1) - wx[j])
                row[x1[j]] += v * wx[j]
            a, b, fy = y0[i], y1[i], wy[i]
            gy = np.float32(1) - fy
            for q in range(out.shape[2]):
                out[p, a, q] += row[q] * gy
                out[p, b, q] += row[q] * fy


_NO_BASE = np.zeros((0, 0, 0), np.float32)


def _planes(x: np.ndarray) -> np.ndarray:
    return channels_first(x).reshape((-1,) + x.shape[-2:])  # OpenVINO's channel-last logits: a compiled copy


def resize_planes(x: np.ndarray, size: Sequence[int], align_corners: bool = False) -> np.ndarray:
    """(..., h, w) -> (..., H, W) float32, as ``F.interpolate(..., mode='bilinear')``."""
    h, w = x.shape[-2:]
    out = aligned_empty((int(np.prod(x.shape[:-2], dtype=np.int64)), int(size[0]), int(size[1])))
    _resize_kernel(_planes(x), _NO_BASE, *taps(h, int(size[0]), align_corners),
                   *taps(w, int(size[1]), align_corners), out)
    return out.reshape(x.shape[:-2] + tuple(out.shape[1:]))


def resize_planes_add(x: np.ndarray, base: np.ndarray, align_corners: bool = False) -> np.ndarray:
    """``base`` (..., H, W) + :func:`resize_planes` of ``x`` (..., h, w) to base's size, in one pass."""
    size = base.shape[-2:]
    out = aligned_empty(base.shape)
    _resize_kernel(_planes(x), _planes(base), *taps(x.shape[-2], size[0], align_corners),
                   *taps(x.shape[-1], size[1], align_corners), out.reshape((-1,) + tuple(size)))
    return out


def resize_planes_grad(grad: np.ndarray, size: Sequence[int], align_corners: bool = False) -> np.ndarray:
    """Gradient of :func:`resize_planes`: (..., H, W) output gradient -> (..., h, w) for input size ``size``."""
    h, w = int(size[0]), int(size[1])
    out = aligned_empty((int(np.prod(grad.shape[:-2], dtype=np.int64)), h, w))
    big_h, big_w = grad.shape[-2:]
    _resize_grad_kernel(_planes(grad), *taps(h, big_h, align_corners), *taps(w, big_w, align_corners), out)
    return out.reshape(grad.shape[:-2] + (h, w))


class BilinearResize(PyLayer):
    """(N, C, h, w) float32 CPU tensor -> (N, C, H, W); backward by the transposed kernel."""

    @staticmethod
    def forward(ctx, x: paddle.Tensor, size: Sequence[int], align_corners: bool) -> paddle.Tensor:
        ctx.geometry = (tuple(x.shape[-2:]), align_corners)
        return to_paddle(resize_planes(as_numpy(x), size, align_corners))

    @staticmethod
    def backward(ctx, grad: paddle.Tensor) -> paddle.Tensor:
        src, align_corners = ctx.geometry
        return to_paddle(resize_planes_grad(as_numpy(grad), src, align_corners))


class BilinearResizeAdd(PyLayer):
    """base (N, C, H, W) + x (N, C, h, w) resized to (H, W); base's gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, x: paddle.Tensor, base: paddle.Tensor, align_corners: bool) -> paddle.Tensor:
        ctx.geometry = (tuple(x.shape[-2:]), align_corners)
        return to_paddle(resize_planes_add(as_numpy(x), as_numpy(base), align_corners))

    @staticmethod
    def backward(ctx, grad: paddle.Tensor):
        src, align_corners = ctx.geometry
        return to_paddle(resize_planes_grad(as_numpy(grad), src, align_corners)), grad


def resize_add(x: paddle.Tensor, base: paddle.Tensor, align_corners: bool = False) -> paddle.Tensor:
    """``base + resize_bilinear(x, base.shape[2:])`` in one pass, with gradients; float32 CPU tensors, dygraph."""
    return BilinearResizeAdd.apply(x, base, bool(align_corners))


def resize_bilinear(x: paddle.Tensor, size: Sequence[int], align_corners: bool = False) -> paddle.Tensor:
    """(N, C, h, w) float32 CPU tensor -> (N, C, H, W), as ``F.interpolate(..., 'bilinear')``, with gradient.
    Dygraph only (the kernels run eagerly)."""
    return BilinearResize.apply(x, [int(s) for s in size], bool(align_corners))
