"""The float32 islands of mixed-precision training (paddle_segformer.models.amp_policy).

On a CPU Paddle disables autocast (no fp16 / bf16 kernels), but ``auto_cast`` still installs its op
lists in the tracer, so what the O1 / O2 programs would cast can be read there; O2's parameter cast is
Paddle's own ``amp_initialize``, which runs on a CPU. That the listed layers really compute in float32
needs a GPU: that test is skipped here.
"""
import importlib

import numpy as np
import paddle
import pytest
from paddle.amp import amp_lists
from paddle.amp.auto_cast import amp_state
from paddle.base.framework import OpProtoHolder, _dygraph_tracer

from paddle_segformer.cli import train as train_cli
from paddle_segformer.engine import hooks
from paddle_segformer.models import amp_policy, layers
from paddle_segformer.models.amp_policy import ISLANDS, auto_cast_lists, black_list, fp32_layer_types
from paddle_segformer.models.segformer import SegFormer

# the name PaddleSeg lists and Paddle's AMP code special-cases for the kernel behind _C_ops.sync_batch_norm_
AMP_ONLY = {"sync_batch_norm"}
STATIC_OPS = OpProtoHolder.instance()  # the static graph's op names (softmax_with_cross_entropy, ...)


def _tracer_lists():
    white, black = _dygraph_tracer()._get_amp_op_list()
    return set(white), set(black)


def _gpu_fp16() -> bool:
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 and \
        paddle.device.cuda.get_device_capability()[0] >= 7


def test_every_island_has_a_reason_and_real_op_names():
    assert len({i.name for i in ISLANDS}) == len(ISLANDS)
    for island in ISLANDS:
        assert len(island.reason) > 40 and (island.ops or island.cast), island.name
        for op in island.ops:  # a misspelt name would silently keep nothing in float32
            assert hasattr(paddle._C_ops, op) or op in STATIC_OPS.op_proto_map or op in AMP_ONLY, op
    assert {t.__name__ for t in fp32_layer_types()} == {"LayerNorm", "BatchNorm2D", "SyncBatchNorm"}


def test_paddle_defaults_miss_what_the_policy_adds():
    # the facts the reasons rely on (Paddle 3.3.1); if Paddle changes them, the reasons need a look
    o1, o2 = amp_lists.black_list()["float16"]["O1"], amp_lists.black_list()["float16"]["O2"]
    assert {"softmax", "layer_norm"} <= o1 and not {"softmax", "layer_norm"} & o2
    assert "cross_entropy_with_softmax" not in o1 and "bilinear_interp" not in o1 | o2
    assert "matmul" in amp_lists.white_list()["float16"]["O2"]  # why the attention scores need a cast
    assert {"batch_norm", "sync_batch_norm"} & black_list() == {"batch_norm", "sync_batch_norm"}


@pytest.mark.parametrize("level", ["O1", "O2"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_auto_cast_with_the_policy_keeps_the_islands_out_of_half(level, dtype):
    with pytest.warns(UserWarning, match="no effect"), paddle.amp.auto_cast(level=level, dtype=dtype,
                                                                             **auto_cast_lists(level)):
        white, black = _tracer_lists()  # the lists Paddle's autocast consults for every op
    assert black_list() <= black and not black_list() & white
    assert "matmul" in white and "conv2d" in white  # the rest still runs in half precision
    with pytest.raises(ValueError, match="amp_level"):
        auto_cast_lists("O3")


def test_o2_parameter_cast_keeps_norms_float32(tiny_config, registered):
    from paddle.amp.auto_cast import amp_initialize  # what paddle.amp.decorate(level="O2") runs on a GPU

    from paddle_segformer.integration.config import load_config

    for dtype in ("float16", "bfloat16"):
        model = load_config(str(tiny_config))[1].model
        amp_initialize(models=[model], dtype=dtype, excluded_layers=fp32_layer_types())
        norms = [p for layer in model.sublayers() if isinstance(layer, (paddle.nn.LayerNorm, paddle.nn.BatchNorm2D))
                 for p in layer.parameters(include_sublayers=False)]
        assert norms and all(p.dtype == paddle.float32 for p in norms), dtype
        assert model.linear_pred.weight.dtype == getattr(paddle, dtype)
    plain = load_config(str(tiny_config))[1].model
    amp_initialize(models=[plain], dtype="bfloat16", excluded_layers=None)
    assert plain.backbone.norm1.weight.dtype == paddle.bfloat16  # what the entry prevents


def test_attention_island_gives_the_same_probabilities(monkeypatch):
    paddle.seed(1)
    q, k = paddle.randn([2, 2, 16, 8]), paddle.randn([2, 2, 4, 8])
    q.stop_gradient = False
    plain = layers.attention_probs(q, k, 8 ** -0.5)
    monkeypatch.setattr(layers, "amp_active", lambda: True)  # as inside auto_cast on a GPU
    island = layers.attention_probs(q, k, 8 ** -0.5)
    assert island.dtype == paddle.float32 and island.shape == [2, 2, 16, 4]
    np.testing.assert_allclose(island.numpy(), plain.numpy(), rtol=1e-6)
    island.sum().backward()
    assert q.grad is not None


def test_amp_active_follows_the_tracer():
    assert not amp_policy.amp_active()
    with pytest.warns(UserWarning), paddle.amp.auto_cast():
        assert not amp_policy.amp_active()  # disabled on a CPU: the island is not needed


def _record_lists_in_forward(monkeypatch):
    seen = []
    forward = SegFormer.forward

    def recording(self, x):
        if amp_state() is not None:  # inside an auto_cast (not PaddleSeg's closing paddle.flops)
            seen.append((self.training,) + _tracer_lists())
        return forward(self, x)

    monkeypatch.setattr(SegFormer, "forward", recording)
    return seen


@pytest.mark.parametrize("level", ["O1", "O2"])
def test_paddleseg_loops_run_with_the_policy(level, tiny_config, tmp_path, monkeypatch, registered):
    seen = _record_lists_in_forward(monkeypatch)
    decorated = []
    decorate = paddle.amp.decorate
    monkeypatch.setattr(paddle.amp, "decorate", lambda *a, **kw: decorated.append(kw) or decorate(*a, **kw))
    monkeypatch.setattr(train_cli, "resolve_precision", lambda *args: "fp16")  # PaddleSeg's fp16 branch, on a CPU
    train_cli.train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=1, save_interval=1, log_iters=1,
                    amp_level=level, do_eval=True)
    assert {training for training, _, _ in seen} == {True, False}  # training and evaluation loops
    for _, white, black in seen:  # PaddleSeg's own lists would have batch_norm in white, the loss op in neither
        assert black_list() <= black and not {"batch_norm", "sync_batch_norm"} & white
    assert len(decorated) == (1 if level == "O2" else 0)  # O2: PaddleSeg's decorate, with our float32 layers
    if decorated:
        assert set(fp32_layer_types()) <= set(decorated[0]["excluded_layers"])
    for name in (hooks.TRAIN, hooks.VAL):  # removed after training
        assert not isinstance(importlib.import_module(name).paddle, amp_policy.PolicyPaddle)


def test_bf16_forward_uses_the_policy(tiny_config, monkeypatch, registered):
    from paddle_segformer.integration.config import load_config

    seen = []
    model = load_config(str(tiny_config))[1].model
    model.amp_dtype = "bfloat16"
    model.backbone.register_forward_pre_hook(lambda layer, inputs: seen.append(_tracer_lists()))
    with pytest.warns(UserWarning):
        logits = model(paddle.randn([1, 3, 64, 64]))[0]
    assert logits.dtype == paddle.float32
    assert len(seen) == 1 and black_list() <= seen[0][1]


@pytest.mark.skipif(not _gpu_fp16(), reason="needs a CUDA GPU with fp16 (compute capability 7+): on a CPU Paddle "
                                           "disables autocast, so nothing computes in half precision to compare")
@pytest.mark.parametrize("level", ["O1", "O2"])
def test_islands_compute_in_float32_on_a_gpu(level, tiny_config, monkeypatch, registered):
    from paddleseg.models.losses import CrossEntropyLoss

    from paddle_segformer.integration.config import load_config

    paddle.set_device("gpu")
    model = load_config(str(tiny_config))[1].model
    amp = amp_policy._PolicyAmp(paddle.amp)
    if level == "O2":
        model = amp.decorate(models=model, level="O2", save_dtype="float32")
    dtypes = {}

    def keep(name):
        return lambda layer, inputs, output: dtypes.setdefault(name, set()).add(output.dtype)

    for layer in model.sublayers():
        for kind in (paddle.nn.LayerNorm, paddle.nn.BatchNorm2D, paddle.nn.Linear):
            if isinstance(layer, kind):
                layer.register_forward_post_hook(keep(kind.__name__))
    probs = layers.attention_probs

    def attention(q, k, scale):
        out = probs(q, k, scale)
        dtypes.setdefault("attention", set()).add(out.dtype)
        return out

    monkeypatch.setattr(layers, "attention_probs", attention)
    model.train()
    with amp.auto_cast(level=level):  # what PaddleSeg's loop calls, with the policy's lists
        logits = model(paddle.randn([2, 3, 64, 64]))[0]
        loss = CrossEntropyLoss()(logits, paddle.randint(0, 4, [2, 64, 64]))
    assert dtypes["Linear"] == {paddle.float16}  # AMP is really on
    for name in ("LayerNorm", "BatchNorm2D", "attention"):
        assert dtypes[name] == {paddle.float32}, name
    assert logits.dtype == paddle.float32 and loss.dtype == paddle.float32
