"""bfloat16 logits as numpy carries them: their raw bits in ``uint16`` arrays (numpy has no bfloat16).

Where OpenVINO computes the last layer in bf16 (INT8 models on CPUs with bf16, ``--precision bf16``), it can
hand the logits over as they are instead of converting 150 x 128^2 of them to float32 at the end of the
graph (1.2-1.4 ms of B0's 512^2 INT8 run). The label kernel reads such arrays directly through
:func:`as_f32`, a compiled read that widens one value exactly (bf16 is the upper half of a float32), so its
labels are those of the float32 logits OpenVINO would have returned; everything else takes
:func:`to_float32` first.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

BF16_BITS = np.dtype(np.uint16)  # the dtype of bf16 logits here: their bits, never integer values


def is_bf16(x: np.ndarray) -> bool:
    """True for an array of bf16 bits (:data:`BF16_BITS`)."""
    return x.dtype == BF16_BITS


@intrinsic
def _widen(typingctx, bits):  # pragma: no cover (compiled)
    """float32 whose upper 16 bits are ``bits`` (uint16) and lower 16 zero: bf16 -> float32, exact."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        wide = builder.zext(args[0], ir.IntType(32))
        return builder.bitcast(builder.shl(wide, ir.Constant(ir.IntType(32), 16)), ir.FloatType())

    return types.float32(types.uint16), codegen


def as_f32(value):  # pragma: no cover (replaced by the compiled overload below)
    """One logit as float32 inside compiled code: a float32 as it is, bf16 bits (uint16) widened."""
    raise NotImplementedError("as_f32 is only callable from numba-compiled code")


@overload(as_f32, inline="always")
def _as_f32(value):  # pragma: no cover (typing)
    if value == types.uint16:
        return lambda value: _widen(value)
    if value == types.float32:
        return lambda value: value
    return None


@numba.njit(parallel=True, cache=True, nogil=True)
def _widen_all(bits: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    for i in numba.prange(bits.shape[0]):
        out[i] = as_f32(bits[i])


def to_float32(x: np.ndarray) -> np.ndarray:
    """bf16 bits -> float32 of the same shape and memory order (a channel-last view stays one); any other
    array as float32 (not copied when it already is)."""
    if not is_bf16(x):
        return np.asarray(x, dtype=np.float32)
    order = np.argsort(x.strides)[::-1]  # axes from the largest stride: the order the memory lies in
    packed = np.ascontiguousarray(x.transpose(order))  # no copy when x is a transposed contiguous array
    out = np.empty(packed.shape, np.float32)
    _widen_all(packed.reshape(-1), out.reshape(-1))
    return out.transpose(np.argsort(order))


def from_float32(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits as OpenVINO's CPU plugin converts: rounded to nearest even, subnormals flushed
    to a signed zero, NaN kept a NaN. For tests and references; the runtime produces bf16 itself."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    sign = (bits >> np.uint32(16)) & np.uint32(0x8000)
    subnormal = (np.abs(x) < np.finfo(np.float32).tiny) & (x != 0)
    rounded = np.where(subnormal, sign, rounded)
    return np.where(np.isnan(x), (bits >> np.uint32(16)) | np.uint32(0x40), rounded).astype(np.uint16)
