"""Stride-4 logits -> full-resolution logits or labels, bilinear as Paddle's ``F.interpolate``.

Labels are computed by a compiled kernel (numba) without building the K-class full-resolution tensor:
ONNX Runtime's Resize + ArgMax took 186 ms for 150 classes at 512 x 512 on this project's CPU, OpenCV's
resize + numpy's argmax 100 ms, both longer than B0 itself. The kernel goes cell by cell (a source cell's
candidate classes gathered once for its ~16 output pixels): on 150 classes of i.i.d. random logits at 128^2
-> 512^2 (about 100 candidates per cell) 65 ms against 170 ms pixel by pixel, less on a model's logits
(fewer candidates) and far less on a trained model's. The taps are Paddle's (paddle_segformer.ops.resize).
Reading the logits channel-last (a cell's candidates found by one vectorised pass over its corners' K
values, bounded by the corner winners) took B0's 150 x 128^2 logits from 6.2 to 3.2 ms (2 threads).
"""
from __future__ import annotations

from typing import Tuple

import numba
import numpy as np

from ..ops.bf16 import as_f32
from ..ops.layout import channels_last
from ..ops.resize import resize_planes, taps

TOLERANCE = np.float32(1e-5)  # relative margin keeping classes within rounding of the bound


def upsample_logits(logits: np.ndarray, size: Tuple[int, int], align_corners: bool = False) -> np.ndarray:
    """(..., K, h, w) -> (..., K, H, W) float32."""
    return resize_planes(logits, size, align_corners)


@numba.njit(parallel=True, cache=True, nogil=True)
def _low_argmax(hwk: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """out[y, x] = argmax_k hwk[y, x, k], first index on ties (as numpy); float32 or bf16 bits."""
    h, w, k_count = hwk.shape
    for a in numba.prange(h):
        best = np.empty(w, np.float32)
        for q in range(w):
            best[q] = as_f32(hwk[a, q, 0])
        arg = np.zeros(w, np.int32)
        for k in range(1, k_count):
            for q in range(w):  # the pixels of a row side by side: independent comparisons
                value = as_f32(hwk[a, q, k])
                if value > best[q]:
                    best[q] = value
                    arg[q] = k
        out[a] = arg


@numba.njit(nogil=True)
def _corner_max(p00, p01, p10, p11, out) -> None:  # pragma: no cover (compiled)
    """out[k] = the largest of a class's four corner values (a loop the compiler vectorises)."""
    for k in range(p00.shape[0]):
        out[k] = max(max(as_f32(p00[k]), as_f32(p01[k])), max(as_f32(p10[k]), as_f32(p11[k])))


@numba.njit(nogil=True)
def _corner_min(p00, p01, p10, p11, k: int):  # pragma: no cover (compiled)
    return min(min(as_f32(p00[k]), as_f32(p01[k])), min(as_f32(p10[k]), as_f32(p11[k])))


@numba.njit(nogil=True)
def _candidates(p00, p01, p10, p11, l00: int, l01: int, l10: int, l11: int, highest,
                cand) -> int:  # pragma: no cover (compiled)
    """The classes that can win somewhere in a cell with corner logits p00..p11 (K,) and corner argmaxes
    l00..l11, in increasing order into ``cand``; returns their count. Inside the cell a class's interpolated
    logit lies between its smallest and largest corner value, so the winner's value is at least ``floor``,
    the smallest corner value of any one class (here the best of the four corner winners'); a class whose
    largest corner value is below that cannot win. The margin keeps classes within float rounding of it.
    """
    floor = max(max(_corner_min(p00, p01, p10, p11, l00), _corner_min(p00, p01, p10, p11, l01)),
                max(_corner_min(p00, p01, p10, p11, l10), _corner_min(p00, p01, p10, p11, l11)))
    bound = floor - TOLERANCE * (abs(floor) + np.float32(1))
    _corner_max(p00, p01, p10, p11, highest)
    n = 0
    for k in range(p00.shape[0]):
        if highest[k] >= bound:
            cand[n] = k
            n += 1
    return n


@numba.njit(parallel=True, cache=True, nogil=True)
def _labels_kernel(hwk: np.ndarray, low: np.ndarray, rows: np.ndarray, wy: np.ndarray, cols: np.ndarray,
                   wx: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Each output pixel: argmax over its cell's candidates of the bilinear value (y, then x, as Paddle).

    Cell by cell: the output rows ``rows[a]:rows[a + 1]`` and columns ``cols[c]:cols[c + 1]`` take their
    taps from source cell (a, c), corners (a, c), (a, c+1), (a+1, c), (a+1, c+1). A cell whose four corners
    share their argmax gets that class (any convex combination keeps its maximum there). Otherwise its
    candidates' corner values are gathered once into small contiguous arrays for its (about 16) pixels."""
    h, w, k_count = hwk.shape
    for a in numba.prange(h):
        b = min(a + 1, h - 1)
        cand, highest = np.empty(k_count, np.int32), np.empty(k_count, np.float32)
        v00, v01 = np.empty(k_count, np.float32), np.empty(k_count, np.float32)
        v10, v11 = np.empty(k_count, np.float32), np.empty(k_count, np.float32)
        for c in range(w):
            if rows[a] == rows[a + 1] or cols[c] == cols[c + 1]:
                continue  # a cell no output pixel takes its taps from (downscaling)
            d = min(c + 1, w - 1)
            l00, l01, l10, l11 = low[a, c], low[a, d], low[b, c], low[b, d]
            if l00 == l01 and l00 == l10 and l00 == l11:
                out[rows[a]:rows[a + 1], cols[c]:cols[c + 1]] = l00
                continue
            p00, p01, p10, p11 = hwk[a, c], hwk[a, d], hwk[b, c], hwk[b, d]
            n = _candidates(p00, p01, p10, p11, l00, l01, l10, l11, highest, cand)
            for t in range(n):
                k = cand[t]
                v00[t], v01[t] = as_f32(p00[k]), as_f32(p01[k])
                v10[t], v11[t] = as_f32(p10[k]), as_f32(p11[k])
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
                    out[i, j] = cand[best_t]


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
    """(K, h, w) logits, float32 or bf16 bits (:mod:`~paddle_segformer.ops.bf16`) -> (H, W) int32 labels =
    argmax of the bilinearly upsampled logits (bf16 ones widened to float32 exactly, as they are read).

    Read channel-last (:func:`~paddle_segformer.ops.layout.channels_last`: free for OpenVINO's logits, a
    compiled copy for the other runtimes'): a cell's K values per corner lie side by side.
    """
    hwk = channels_last(logits)
    h, w, _ = hwk.shape
    low = np.empty((h, w), np.int32)
    _low_argmax(hwk, low)
    out = np.empty(tuple(size), np.int32)
    _labels_kernel(hwk, low, *cell_starts(h, size[0], align_corners), *cell_starts(w, size[1], align_corners), out)
    return out
