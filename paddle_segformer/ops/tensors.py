"""Paddle CPU tensors handed to the compiled (numba) kernels of resize, bias and cross_entropy, and back.

One test says where those kernels apply (dygraph, CPU, float32: elsewhere Paddle's own ops run), and
tensors cross to numpy through DLPack, without copies.

Memory handed to Paddle starts at an :data:`ALIGN`-byte boundary, as Paddle's own CPU tensors do: Paddle's
``batch_norm`` in training gives last-bit different results for the same input at other alignments (byte
offsets 4, 8, 16, 48 against 0, measured on Paddle 3.3.1), and numpy's ``malloc``'ed arrays start 16 bytes
past a 64-byte boundary or not, depending on the heap. That made training unrepeatable (issue 20, item 9).
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import paddle

ALIGN = 4096  # bytes; Paddle's CPU allocator gives every tensor a page-aligned start (measured, Paddle 3.3.1)
# Row chunks of the kernels' gradient sums (bias, depth-wise weight / bias): a fixed number, so that the sums
# do not depend on the thread count.
CHUNKS = 64


def on_cpu_kernels(t: paddle.Tensor) -> bool:
    """True when ``t`` can go through the compiled CPU kernels: dygraph, a CPU tensor, float32."""
    return paddle.in_dynamic_mode() and t.place.is_cpu_place() and t.dtype == paddle.float32


def as_numpy(t: paddle.Tensor) -> np.ndarray:
    """A read-only numpy view of a CPU tensor's memory (a copy only if it is not contiguous)."""
    return np.from_dlpack(t.detach().contiguous())


def aligned_empty(shape: Union[int, Sequence[int]], dtype: np.dtype = np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data start at an :data:`ALIGN`-byte boundary."""
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(nbytes + ALIGN, np.uint8)
    start = -buffer.ctypes.data % ALIGN
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


def to_paddle(a: np.ndarray) -> paddle.Tensor:
    """A Paddle tensor over ``a``'s memory (DLPack, no copy) when it is C-contiguous and aligned, else over an
    aligned copy: Paddle's results then do not depend on where numpy's heap put ``a``."""
    if not (a.flags.c_contiguous and a.ctypes.data % ALIGN == 0):
        copy = aligned_empty(a.shape, a.dtype)
        copy[...] = a
        a = copy
    return paddle.from_dlpack(a)
