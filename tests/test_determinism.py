"""Repeatable training: the same command and seed give the same weights, bit for bit.

The cause found (issue 20, item 9): Paddle's CPU ``batch_norm`` in training gives last-bit different results
for the same input at different memory alignments (byte offsets 4, 8, 16, 48 differ from 0; 32, 64, 128 do not,
measured on Paddle 3.3.1), and the compiled kernels handed Paddle numpy memory that ``malloc`` places 16 bytes
past a boundary or not, depending on the heap. The head's BatchNorm input comes from such a kernel. Adam turns
the tiny differences in the near-zero gradients (biases that BatchNorm or softmax cancel) into lr-sized steps.
"""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_segformer.ops.bias import AddBias
from paddle_segformer.ops.cross_entropy import softmax_cross_entropy
from paddle_segformer.ops.depthwise import DepthwiseTokens
from paddle_segformer.ops.resize import resize_add, resize_bilinear
from paddle_segformer.ops.tensors import ALIGN, aligned_empty, to_paddle

from .conftest import REPO, env_with_threads, write_config


def _tensor(rng, shape, grad=True):
    t = paddle.to_tensor(rng.normal(size=shape).astype(np.float32))
    t.stop_gradient = not grad
    return t


def _aligned(t: paddle.Tensor) -> bool:
    return t.data_ptr() % ALIGN == 0


def test_aligned_empty_and_to_paddle():
    for shape, dtype in [((3, 5), np.float32), ((7,), np.float64), ((), np.float32), ((0, 4), np.float32)]:
        a = aligned_empty(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert a.size == 0 or a.ctypes.data % ALIGN == 0
    odd = np.arange(9, dtype=np.float32)[1:]  # 4 bytes past an allocation's start: never aligned
    t = to_paddle(odd)
    assert _aligned(t) and np.array_equal(t.numpy(), odd)
    kept = aligned_empty((4, 4))
    kept[:] = 1
    assert to_paddle(kept).data_ptr() == kept.ctypes.data  # aligned memory is shared, not copied


def test_kernel_outputs_are_aligned_as_paddles_own():
    # fails before the fix: outputs and gradients were numpy's malloc'ed memory (16 bytes past 64 or not)
    rng = np.random.default_rng(0)
    tokens, weight, bias = _tensor(rng, (2, 36, 8)), _tensor(rng, (8, 1, 3, 3)), _tensor(rng, (8,))
    small, base, channel_bias = _tensor(rng, (2, 3, 5, 5)), _tensor(rng, (2, 3, 9, 9)), _tensor(rng, (3,))
    for _ in range(8):  # the heap in various states: every output and gradient aligned, every time
        outputs = [DepthwiseTokens.apply(tokens, weight, bias, 6, 6), AddBias.apply(tokens, bias, -1),
                   AddBias.apply(base, channel_bias, 1), resize_bilinear(small, (9, 9)), resize_add(small, base)]
        assert all(_aligned(out) for out in outputs)
        paddle.add_n([out.sum() for out in outputs]).backward()
        assert all(_aligned(t.grad) for t in (tokens, weight, bias, small, channel_bias))
        for t in (tokens, weight, bias, small, base, channel_bias):
            t.clear_gradient()
    logit = _tensor(rng, (2, 4, 6, 6))
    label = paddle.to_tensor(rng.integers(0, 4, (2, 1, 6, 6)))
    (softmax_cross_entropy(logit, label) * 3.0).backward()
    assert _aligned(logit.grad)


def _bias_grads(threads: int):
    """Bias gradients of the depth-wise and the bias kernels for an output gradient whose row sums cancel:
    rows 2^53, 1, 1, -2^53 sum to 1 in pairs and to 0 one by one, so any regrouping shows."""
    import numba

    rows = np.zeros((8, 16), np.float32)
    rows[:4] = np.array([2.0 ** 53, 1.0, 1.0, -2.0 ** 53], np.float32)[:, None]
    tokens = paddle.zeros([1, 8, 16])
    weight, bias, row_bias = paddle.zeros([16, 1, 3, 3]), paddle.zeros([16]), paddle.zeros([16])
    for t in (tokens, weight, bias, row_bias):
        t.stop_gradient = False
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        paddle.autograd.backward([DepthwiseTokens.apply(tokens, weight, bias, 8, 1),
                                  AddBias.apply(tokens, row_bias, -1)],
                                 [paddle.to_tensor(rows[None]), paddle.to_tensor(rows[None])])
    finally:
        numba.set_num_threads(previous)
    return bias.grad.numpy(), row_bias.grad.numpy()


def test_parameter_gradients_do_not_depend_on_the_thread_count():
    # fails before the fix: the rows were split into 4 x (numba's thread count) chunks
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here")
    one, two = _bias_grads(1), _bias_grads(2)
    assert all(np.array_equal(a, b) for a, b in zip(one, two)), (one, two)


def _train(config, save_dir):
    cmd = [sys.executable, str(REPO / "train.py"), "--config", str(config), "--iters", "8", "--seed", "3",
           "--num_workers", "0", "--save_dir", str(save_dir), "--save_interval", "8", "--log_iters", "4",
           "--skip_data_check"]
    env = env_with_threads(2)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return paddle.load(str(save_dir / "iter_8" / "model.pdparams"))


def test_same_command_and_seed_give_the_same_weights(tiny_data, tmp_path):
    # fails before the fix: 160 of 191 tensors differed after 8 iterations (up to 1e-3, BatchNorm's mean)
    config = write_config(tmp_path / "repeat.yml", tiny_data)
    first, second = _train(config, tmp_path / "a"), _train(config, tmp_path / "b")
    assert first.keys() == second.keys()
    differing = [k for k in first if not np.array_equal(np.asarray(first[k]), np.asarray(second[k]))]
    assert not differing, f"{len(differing)} of {len(first)} tensors differ, e.g. {differing[:5]}"
