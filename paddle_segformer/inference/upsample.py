"""Stride-4 logits -> full-resolution logits or labels, bilinear as Paddle's ``F.interpolate``.

Labels are computed by a compiled kernel (numba) without building the K-class full-resolution tensor:
ONNX Runtime's Resize + ArgMax took 186 ms for 150 classes at 512 x 512 on this project's CPU, OpenCV's
resize + numpy's argmax 100 ms, both longer than B0 itself. The kernel goes cell by cell (a source cell's
candidate classes gathered once for its ~16 output pixels): on 150 classes of i.i.d. random logits at 128^2
-> 512^2 (about 100 candidates per cell) 65 ms against 170 ms pixel by pixel, less on a model's logits
(fewer candidates) and far less on a trained model's. The taps are Paddle's (paddle_segformer.ops.resize).
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
def _labels_kernel(logits: np.ndarray, cand: np.ndarray, count: np.ndarray, rows: np.ndarray, wy: np.ndarray,
                   cols: np.ndarray, wx: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Each output pixel: argmax over its cell's candidates of the bilinear value (y, then x, as Paddle).

    Cell by cell: the output rows ``rows[a]:rows[a + 1]`` and columns ``cols[c]:cols[c + 1]`` take their
    taps from source cell (a, c); its candidates' four corner values are gathered once into small
    contiguous arrays, not read again from K planes apart for each of the cell's (about 16) pixels."""
    k_count, h, w = logits.shape
    for a in numba.prange(h):
        b = min(a + 1, h - 1)
        v00, v01 = np.empty(k_count, np.float32), np.empty(k_count, np.float32)
        v10, v11 = np.empty(k_count, np.float32), np.empty(k_count, np.float32)
        for c in range(w):
            d = min(c + 1, w - 1)
            n = count[a, c]
            if n <= 1:
                out[rows[a]:rows[a + 1], cols[c]:cols[c + 1]] = cand[a, c, 0]
                continue
            for t in range(n):
                k = cand[a, c, t]
                v00[t], v01[t], v10[t], v11[t] = logits[k, a, c], logits[k, a, d], logits[k, b, c], logits[k, b, d]
            for i in range(rows[a], rows[a + 1]):
                fy = wy[i]
                gy = np.float32(1) - fy  # float32 throughout, as Paddle computes
                for j in range(cols[c], cols[c + 1]):
                    fx = wx[j]
                    gx = np.float32(1) - fx
                    best, best_t = -np.inf, 0
                    for t in range(n):
                        value = (v00[t] * gy + v10[t] * fy) * gx + (v01[t] * gy + v11[t] * fy) * fx
                        if value > best:
                            best, best_t = value, t
                    out[i, j] = cand[a, c, best_t]


def cell_starts(n_in: int, n_out: int, align_corners: bool) -> Tuple[np.ndarray, np.ndarray]:
    """(n_in + 1,) first output index of each source cell (output indices whose lower tap is that source
    index, a run since taps only rise), and the (n_out,) weights of the upper tap (:func:`taps`)."""
    lower, upper, weight = taps(n_in, n_out, align_corners)
    if (upper != np.minimum(lower + 1, n_in - 1)).any() or (np.diff(lower) < 0).any():
        raise AssertionError("bilinear taps are expected to rise, each pair (i, min(i + 1, n - 1))")
    return np.searchsorted(lower, np.arange(n_in + 1)).astype(np.int64), weight


def set_threads(threads: int) -> None:
    """Threads of the label kernel (at most numba's NUMBA_NUM_THREADS, the cores by default)."""
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def concurrent_calls_safe() -> bool:
    """Whether two threads may run the label kernel at once: numba's tbb and omp threading layers take
    concurrent callers, its workqueue layer aborts the process on them. The layer is chosen at the first
    parallel call, so a tiny one is made first."""
    upsample_labels(np.zeros((2, 2, 2), np.float32), (4, 4))
    return numba.threading_layer() != "workqueue"


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
    _labels_kernel(logits, cand, count, *cell_starts(h, size[0], align_corners), *cell_starts(w, size[1], align_corners),
                   out)
    return out
