"""Shapes and article details of the model, for every variant in the table."""
import numpy as np
import paddle
import pytest

from paddle_segformer.models.backbone import MixVisionTransformer, mit
from paddle_segformer.models.layers import Attention
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.variants import MIT_VARIANTS


def _ceil_div(n, d):
    return -(-n // d)


@pytest.mark.parametrize("key", list(MIT_VARIANTS))
def test_shapes_every_variant(key):
    spec = MIT_VARIANTS[key]
    backbone = mit(key)
    model = SegFormer(num_classes=5, backbone=backbone)
    model.eval()
    h, w = 66, 99  # not divisible by 32, not square
    feats = backbone(paddle.randn([2, 3, h, w]))
    expected = [(2, c, _ceil_div(h, s), _ceil_div(w, s)) for c, s in zip(spec.embed_dims, (4, 8, 16, 32))]
    assert [tuple(f.shape) for f in feats] == expected
    out = model(paddle.randn([2, 3, h, w]))
    assert isinstance(out, list) and len(out) == 1
    assert tuple(out[0].shape) == (2, 5, h, w)
    assert model.linear_fuse._conv.weight.shape[0] == spec.decoder_dim
    assert [len(getattr(backbone, f"block{i + 1}")) for i in range(4)] == list(spec.depths)


@pytest.mark.parametrize("in_channels,size", [(1, (250, 333)), (4, (64, 64)), (6, (40, 72))])
def test_any_band_count_and_size(in_channels, size):
    model = SegFormer(3, mit("b0", in_channels=in_channels))
    model.eval()
    out = model(paddle.randn([1, in_channels, *size]))[0]
    assert tuple(out.shape) == (1, 3, *size)
    assert model.backbone.patch_embed1.proj.weight.shape[1] == in_channels


def test_article_layer_details():
    net = mit("b0")
    convs = [getattr(net, f"patch_embed{i}").proj for i in range(1, 5)]
    assert [(c._kernel_size[0], c._stride[0], c._padding) for c in convs] == [
        (7, 4, 3), (3, 2, 1), (3, 2, 1), (3, 2, 1)]
    # LayerNorm eps: 1e-6 in blocks and stage norms, framework default in patch-embed and sr norms
    assert net.block1[0].norm1._epsilon == 1e-6 and net.norm4._epsilon == 1e-6
    assert net.patch_embed1.norm._epsilon == 1e-5 and net.block1[0].attn.norm._epsilon == 1e-5
    for i, sr in enumerate((8, 4, 2, 1)):
        attn = getattr(net, f"block{i + 1}")[0].attn
        assert attn.sr_ratio == sr
        assert hasattr(attn, "sr") == (sr > 1)
        if sr > 1:
            assert attn.sr._kernel_size == [sr, sr] and attn.sr._stride == [sr, sr]
        assert attn.q.bias is not None and attn.kv.weight.shape == [attn.dim, 2 * attn.dim]
    mlp = net.block1[0].mlp
    assert mlp.fc1.weight.shape == [32, 128] and mlp.dwconv.dwconv._groups == 128
    assert mlp.dwconv.dwconv._kernel_size == [3, 3]


def test_sequence_reduction():
    """Keys/values of stage 1 (sr 8) come from 64x fewer tokens than the queries."""
    attn = Attention(dim=32, num_heads=1, sr_ratio=8)
    seen = {}

    def record(layer, inputs, output):
        seen["kv"] = list(output.shape)  # returns None: output unchanged

    attn.kv.register_forward_post_hook(record)
    x = paddle.randn([1, 64 * 64, 32])
    assert attn(x, 64, 64).shape == [1, 4096, 32]
    assert seen["kv"][1] == 4096 // 64


def test_stochastic_depth_rises_linearly():
    net = mit("b2", drop_path_rate=0.3)
    rates = [blk.drop_path.drop_prob for i in range(4) for blk in getattr(net, f"block{i + 1}")]
    assert len(rates) == sum(MIT_VARIANTS["b2"].depths)
    np.testing.assert_allclose(rates, np.linspace(0, 0.3, len(rates)), atol=1e-7)


def test_no_positional_encoding_one_model_many_sizes():
    model = SegFormer(2, mit("b0"))
    model.eval()
    assert not any("pos" in n for n, _ in model.named_parameters())
    for size in ((32, 32), (97, 41), (256, 256)):  # no size-dependent parameter or buffer
        assert tuple(model(paddle.randn([1, 3, *size]))[0].shape) == (1, 2, *size)


def test_too_small_input_is_clear():
    model = SegFormer(2, mit("b0"))
    with pytest.raises(ValueError, match="too small"):
        model(paddle.randn([1, 3, 16, 64]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="in_channels"):
        MixVisionTransformer(in_channels=0)
    with pytest.raises(ValueError, match="num_classes"):
        SegFormer(0, mit("b0"))
    with pytest.raises(ValueError, match="embedding_dim"):
        SegFormer(2, paddle.nn.Linear(2, 2))


def test_amp_dtype_runs_the_forward_under_auto_cast_and_returns_float32(monkeypatch):
    """On a CPU ``auto_cast`` is a no-op (FACTS.md), so its arguments are recorded instead, and the decoder
    is made to return bfloat16 as it would on a GPU: the forward must ask for bf16 O1 and hand back float32."""
    import contextlib

    calls = []

    @contextlib.contextmanager
    def recording_auto_cast(**kwargs):
        calls.append(kwargs)
        yield

    monkeypatch.setattr(paddle.amp, "auto_cast", recording_auto_cast)
    model = SegFormer(2, mit("b0"))
    model.eval()
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda feats: decode(feats).astype("bfloat16"))
    x = paddle.randn([1, 3, 64, 64])
    assert model(x)[0].dtype == paddle.bfloat16 and calls == []  # fp32 model: no auto_cast, no cast back
    model.amp_dtype = "bfloat16"
    out = model(x)[0]
    from paddle_segformer.models.amp_policy import auto_cast_lists

    assert calls == [{"enable": True, "dtype": "bfloat16", "level": "O1", **auto_cast_lists("O1")}]
    assert out.dtype == paddle.float32 and tuple(out.shape) == (1, 2, 64, 64)


@pytest.mark.parametrize("key", ["b0", "b2"])  # decoder width 256 and 768
def test_folded_training_head_equals_the_article_head(key):
    """Training decodes through composed projections (no concat, no 4D -> D conv): same logits, same
    BatchNorm statistics and the same gradient for every parameter as the article's head."""
    paddle.seed(0)
    model = SegFormer(5, mit(key))
    model.train()
    model.dropout.p = 0.0  # the two routes draw dropout masks differently
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 96)).astype("float32"))
    feats = [f.detach() for f in model.backbone(x)]
    results = []
    for decode in (model._decode_article, model._decode_folded):
        bn = model.linear_fuse._batch_norm
        bn._mean.set_value(paddle.zeros_like(bn._mean))
        logits = decode(feats)
        (logits * paddle.arange(logits.size, dtype="float32").reshape(logits.shape) / logits.size).sum().backward()
        grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
        model.clear_gradients()
        results.append((logits.numpy(), bn._mean.numpy().copy(), grads))
    (ref, ref_mean, ref_grads), (out, mean, grads) = results
    np.testing.assert_allclose(out, ref, atol=2e-5)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-5)
    assert grads.keys() == ref_grads.keys() and any(n.startswith("linear_c1") for n in grads)
    largest = max(np.abs(g).max() for g in ref_grads.values())
    for name in grads:  # biases before a training-mode BatchNorm get ~0 (rounding) in both: floor the scale
        scale = max(np.abs(ref_grads[name]).max(), 1e-3 * largest)
        assert np.abs(grads[name] - ref_grads[name]).max() / scale < 1e-4, name
