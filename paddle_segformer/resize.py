"""Bilinear resizing as Paddle's ``F.interpolate`` computes it, and as two matrix products.

``taps`` are the source indices and weights of ``bilinear_interp`` (``align_mode=0``): half-pixel
source coordinates clamped at 0, or corner-aligned ones. ``resize_bilinear`` multiplies by the
interpolation matrices (rows: output pixels, two non-zero weights each), ``A @ x @ B^T``: the same
numbers up to float rounding (tested), but forward and backward are matrix products. On this
project's CPU Paddle's ``bilinear_interp`` backward was the largest single cost of a training step
(the 150-class 128 -> 512 upsampling: 1.57 s forward + backward against 0.52 s as products).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    import paddle


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


@functools.lru_cache(maxsize=64)
def interp_matrix(n_in: int, n_out: int, align_corners: bool = False) -> np.ndarray:
    """(n_out, n_in) float32: row o holds the weights of output index o on the input indices."""
    i0, i1, w1 = taps(n_in, n_out, align_corners)
    matrix = np.zeros((n_out, n_in), np.float32)
    rows = np.arange(n_out)
    np.add.at(matrix, (rows, i0), 1 - w1)
    np.add.at(matrix, (rows, i1), w1)
    matrix.setflags(write=False)
    return matrix


def resize_bilinear(x: "paddle.Tensor", size: Sequence[int], align_corners: bool = False) -> "paddle.Tensor":
    """(N, C, h, w) paddle tensor -> (N, C, H, W), as ``F.interpolate(..., 'bilinear')``; dygraph sizes only."""
    import paddle

    h, w = x.shape[-2:]
    rows = paddle.to_tensor(interp_matrix(h, int(size[0]), align_corners), dtype=x.dtype)
    cols = paddle.to_tensor(interp_matrix(w, int(size[1]), align_corners), dtype=x.dtype)
    return paddle.matmul(paddle.matmul(rows, x), cols, transpose_y=True)
