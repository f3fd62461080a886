"""Channel-first <-> channel-last copies of (K, h, w) logits by compiled kernels.

OpenVINO hands its logits over channel-last (its convolutions' own layout, so no reorder at the end of the
graph) and the label kernel reads them so; other runtimes give channel-first arrays, and the resize
kernels want planes. numpy's transposing copy of 150 x 128^2 float32 took 10.6 ms; these 0.8-1.1 ms
(2 threads).
"""
from __future__ import annotations

import numba
import numpy as np

from .bf16 import BF16_BITS, is_bf16, to_float32


@numba.njit(parallel=True, cache=True, nogil=True)
def _to_last(chw: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """out[a, c, k] = chw[k, a, c]: each output row from K contiguous source rows (looping in the output's
    own order, as :func:`_to_first` does, took 4.6 ms here: the two loop orders are measured, not mirrored)."""
    k_count, h, w = chw.shape
    for a in numba.prange(h):
        for k in range(k_count):
            for c in range(w):
                out[a, c, k] = chw[k, a, c]


@numba.njit(parallel=True, cache=True, nogil=True)
def _to_first(hwc: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """out[k, a, c] = hwc[a, c, k]."""
    k_count, h, w = out.shape
    for k in numba.prange(k_count):
        for a in range(h):
            for c in range(w):
                out[k, a, c] = hwc[a, c, k]


def channels_last(x: np.ndarray) -> np.ndarray:
    """(..., K, h, w) -> C-contiguous (..., h, w, K), float32 or, for bf16 bits, bf16 bits (:mod:`.bf16`): a
    view when ``x`` already lies so in memory."""
    dtype = BF16_BITS if is_bf16(x) else np.dtype(np.float32)
    moved = np.moveaxis(x, -3, -1)
    if moved.flags.c_contiguous and moved.dtype == dtype:
        return moved
    x = np.ascontiguousarray(x, dtype=dtype)
    out = np.empty(moved.shape, dtype)
    for chw, hwc in zip(x.reshape((-1,) + x.shape[-3:]), out.reshape((-1,) + out.shape[-3:])):
        _to_last(chw, hwc)
    return out


def channels_first(x: np.ndarray) -> np.ndarray:
    """(..., K, h, w) -> C-contiguous float32 of the same shape: ``x`` itself when it already is one, a copy
    by the compiled kernel when it is a channel-last view (:func:`channels_last`'s inverse); bf16 bits are
    widened to float32 first."""
    if is_bf16(x):
        x = to_float32(x)
    if x.flags.c_contiguous or x.ndim < 3:
        return np.ascontiguousarray(x, dtype=np.float32)
    moved = np.moveaxis(x, -3, -1)
    if not (moved.flags.c_contiguous and moved.dtype == np.float32):
        return np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.shape, np.float32)
    for hwc, chw in zip(moved.reshape((-1,) + moved.shape[-3:]), out.reshape((-1,) + out.shape[-3:])):
        _to_first(hwc, chw)
    return out
