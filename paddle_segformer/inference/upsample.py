"""Stride-4 logits -> full-resolution logits or labels, bilinear as Paddle's ``F.interpolate``.

Labels are computed by a compiled kernel (numba) without building the K-class full-resolution tensor:
ONNX Runtime's Resize + ArgMax took 186 ms for 150 classes at 512 x 512 on this project's CPU, OpenCV's
resize + numpy's argmax 100 ms, both longer than B0 itself; the kernel takes 12-18 ms on random-weight
logits (nearly every pixel undecided) and less on a trained model's. The taps are Paddle's
(paddle_segformer.ops.resize).
"""
from __future__ import annotations

from typing import Tuple

import numba
import numpy as np

from ..ops.resize import resize_planes, taps

TOLERANCE = np.float32(1e-5)  # relative margin keeping classes within rounding of the bound


def upsample_logits(logits: np.ndarray, size: Tuple[int, int], align_corners: bool = False) -> np.ndarray:
    """(..., K, h, w) -> (..., K, H, W) float32."""
    return resize_planes(logits, size, align_corners)


@numba.njit(parallel=True, cache=True, nogil=True)
def _low_argmax(logits: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """out[y, x] = argmax_k logits[k, y, x], first index on ties (as numpy)."""
    k_count, h, w = logits.shape
    for a in numba.prange(h):
        best = logits[0, a].copy()
        arg = np.zeros(w, np.int64)
        for k in range(1, k_count):
            for q in range(w):
                if logits[k, a, q] > best[q]:
                    best[q] = logits[k, a, q]
                    arg[q] = k
        out[a] = arg


@numba.njit(parallel=True, cache=True, nogil=True)
def _cell_candidates(logits: np.ndarray, ny: np.ndarray, nx: np.ndarray, low: np.ndarray, cand: np.ndarray,
                     count: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Per source cell (corners (a, c), (a, c+1), (a+1, c), (a+1, c+1)): the classes that can win at
    some point of it, in increasing order. Inside the cell a class's interpolated logit lies between
    its smallest and largest corner value, so the winner's value is at least ``floor`` = max over
    classes of their smallest corner value, and a class whose largest corner value is below that
    cannot win. A cell whose four corners share their argmax gets that class alone."""
    k_count, h, w = logits.shape
    for a in numba.prange(h):
        b = ny[a]
        floor = np.full(w, -np.inf, np.float32)
        for k in range(k_count):
            for c in range(w):
                d = nx[c]
                lowest = min(min(logits[k, a, c], logits[k, a, d]), min(logits[k, b, c], logits[k, b, d]))
                floor[c] = max(floor[c], lowest)
        decided = np.zeros(w, np.bool_)
        for c in range(w):
            d = nx[c]
            label = low[a, c]
            decided[c] = label == low[a, d] and label == low[b, c] and label == low[b, d]
            cand[a, c, 0] = label
            count[a, c] = 1 if decided[c] else 0
        for k in range(k_count):
            for c in range(w):
                if decided[c]:
                    continue
                d = nx[c]
                highest = max(max(logits[k, a, c], logits[k, a, d]), max(logits[k, b, c], logits[k, b, d]))
                if highest + TOLERANCE * (abs(highest) + 1) >= floor[c]:  # margin for float rounding
                    cand[a, c, count[a, c]] = k
                    count[a, c] += 1


@numba.njit(parallel=True, cache=True, nogil=True)
def _labels_kernel(logits: np.ndarray, cand: np.ndarray, count: np.ndarray, y0: np.ndarray, y1: np.ndarray,
                   wy: np.ndarray, x0: np.ndarray, x1: np.ndarray, wx: np.ndarray,
                   out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Each output pixel: argmax over its cell's candidates of the bilinear value (y, then x, as Paddle)."""
    for i in numba.prange(y0.shape[0]):
        a, b, fy = y0[i], y1[i], wy[i]
        gy = np.float32(1) - fy  # float32 throughout, as Paddle computes
        for j in range(x0.shape[0]):
            c, d, fx = x0[j], x1[j], wx[j]
            gx = np.float32(1) - fx
            n = count[a, c]
            best_k = cand[a, c, 0]
            if n > 1:
                best = -np.inf
                for t in range(n):
                    k = cand[a, c, t]
                    left = logits[k, a, c] * gy + logits[k, b, c] * fy
                    right = logits[k, a, d] * gy + logits[k, b, d] * fy
                    value = left * gx + right * fx
                    if value > best:
                        best, best_k = value, k
            out[i, j] = best_k


def set_threads(threads: int) -> None:
    """Threads of the label kernel (at most numba's NUMBA_NUM_THREADS, the cores by default)."""
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def upsample_labels(logits: np.ndarray, size: Tuple[int, int], align_corners: bool = False) -> np.ndarray:
    """(K, h, w) logits -> (H, W) int64 labels = argmax of the bilinearly upsampled logits.

    Where the four source pixels of an output pixel agree on the class, any convex combination of
    their logits has its maximum there too: that pixel costs nothing. The others interpolate only the
    classes that can win in their cell (:func:`_cell_candidates`).
    """
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    k, h, w = logits.shape
    low = np.empty((h, w), np.int64)
    _low_argmax(logits, low)
    cand = np.empty((h, w, k), np.int32)
    count = np.empty((h, w), np.int32)
    _cell_candidates(logits, np.minimum(np.arange(1, h + 1), h - 1), np.minimum(np.arange(1, w + 1), w - 1),
                     low, cand, count)
    out = np.empty(tuple(size), np.int64)
    _labels_kernel(logits, cand, count, *taps(h, size[0], align_corners), *taps(w, size[1], align_corners), out)
    return out
