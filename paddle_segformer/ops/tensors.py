"""Paddle CPU tensors handed to the compiled (numba) kernels of resize, bias and cross_entropy.

One test says where those kernels apply (dygraph, CPU, float32: elsewhere Paddle's own ops run), and
tensors cross to numpy through DLPack, without copies.
"""
from __future__ import annotations

import numpy as np
import paddle


def on_cpu_kernels(t: paddle.Tensor) -> bool:
    """True when ``t`` can go through the compiled CPU kernels: dygraph, a CPU tensor, float32."""
    return paddle.in_dynamic_mode() and t.place.is_cpu_place() and t.dtype == paddle.float32


def as_numpy(t: paddle.Tensor) -> np.ndarray:
    """A read-only numpy view of a CPU tensor's memory (a copy only if it is not contiguous)."""
    return np.from_dlpack(t.detach().contiguous())
