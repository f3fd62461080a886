"""Stride-4 logits -> full-resolution logits or labels, bilinear as Paddle's ``F.interpolate``.

numpy rather than the runtime: for labels only the pixels whose four source pixels disagree on the
class need the interpolation (where all four agree on class c, any convex combination of their
logits has its maximum at c too), so a K-class full-resolution tensor is never built. The taps
follow Paddle's ``bilinear_interp`` (``align_mode=0``): half-pixel source coordinates clamped at 0,
or corner-aligned ones.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

CHUNK = 1 << 15  # disagreeing pixels interpolated per step (bounds the (M, K) temporaries)


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


def upsample_logits(logits: np.ndarray, size: Tuple[int, int], align_corners: bool = False) -> np.ndarray:
    """(..., K, h, w) -> (..., K, H, W) float32, separably (rows, then columns)."""
    h, w = logits.shape[-2:]
    y0, y1, wy = taps(h, size[0], align_corners)
    x0, x1, wx = taps(w, size[1], align_corners)
    rows = logits[..., y0, :] * (1 - wy)[:, None] + logits[..., y1, :] * wy[:, None]
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


def upsample_labels(logits: np.ndarray, size: Tuple[int, int], align_corners: bool = False) -> np.ndarray:
    """(K, h, w) logits -> (H, W) int64 labels = argmax of the bilinearly upsampled logits."""
    k, h, w = logits.shape
    y0, y1, wy = taps(h, size[0], align_corners)
    x0, x1, wx = taps(w, size[1], align_corners)
    low = np.argmax(logits, axis=0)
    labels = low[y0][:, x0]
    mixed = (labels != low[y0][:, x1]) | (labels != low[y1][:, x0]) | (labels != low[y1][:, x1])
    ys, xs = np.nonzero(mixed)
    if ys.size == 0:
        return labels
    pixels = np.ascontiguousarray(logits.transpose(1, 2, 0))  # (h, w, K): one K-vector per gather
    for start in range(0, ys.size, CHUNK):
        yy, xx = ys[start:start + CHUNK], xs[start:start + CHUNK]
        a, b = y0[yy], y1[yy]
        c, d = x0[xx], x1[xx]
        fy, fx = wy[yy][:, None], wx[xx][:, None]
        top = pixels[a, c] * (1 - fx) + pixels[a, d] * fx
        bottom = pixels[b, c] * (1 - fx) + pixels[b, d] * fx
        labels[yy, xx] = np.argmax(top * (1 - fy) + bottom * fy, axis=1)
    return labels
