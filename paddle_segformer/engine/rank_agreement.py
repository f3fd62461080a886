"""One verdict for all processes of a ``paddle.distributed.launch`` job (used by the divergence guard).

Data-parallel replicas must take the same decisions at the same iteration: if one process skipped an
update or stopped while the other went on, the weights would drift apart or the survivor would wait in
its next gradient all-reduce until the launcher killed it, without the message. Gradients are
all-reduced, so a non-finite gradient is seen everywhere; a non-finite loss is seen only by the
process whose batch produced it. :func:`agree` takes the maximum of a few integers over all processes
(one small all-reduce per iteration); in a single process it returns them unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, Tuple

if TYPE_CHECKING:
    import numpy as np


def world_size() -> int:
    """Processes in the job's default group (1 when paddle.distributed is not initialised)."""
    import paddle.distributed as dist

    return dist.get_world_size() if dist.is_initialized() else 1


def agree(values: Sequence[int]) -> Tuple[int, ...]:
    """The element-wise maximum of ``values`` over all processes (each process must call this)."""
    if world_size() < 2:
        return tuple(int(v) for v in values)
    import paddle
    import paddle.distributed as dist

    tensor = paddle.to_tensor([int(v) for v in values], dtype="int64")
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tuple(int(v) for v in tensor.numpy())


def average(tensors: Sequence[Any]) -> int:
    """Replace each tensor by its mean over all processes, in place (each process must call this with the same
    tensors in the same order); returns how many were averaged (0 in a single process)."""
    if world_size() < 2 or not tensors:
        return 0
    import paddle
    import paddle.distributed as dist

    with paddle.no_grad():
        for tensor in tensors:
            total = tensor.astype("float32") if tensor.dtype != paddle.float32 else tensor.clone()
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
            paddle.assign((total / world_size()).astype(tensor.dtype), output=tensor)
    return len(tensors)


def total(array: "np.ndarray") -> "np.ndarray":
    """The element-wise sum of an integer array over all processes (each process must call this): confusion
    matrices of the processes' shares of a dataset summed into the whole dataset's, exactly (int64)."""
    import numpy as np

    array = np.ascontiguousarray(array, np.int64)
    if world_size() < 2:
        return array
    import paddle
    import paddle.distributed as dist

    tensor = paddle.to_tensor(array)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.numpy().astype(np.int64)
