"""Weights across frameworks: HF transformers parity, round trips, NVlabs names, format detection.

Only the tests that read or write PyTorch files or run the reference ``transformers`` model need torch /
transformers (test-only extras, requirements-dev.txt); they skip one by one without them, the rest runs."""
import numpy as np
import paddle
import pytest

from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.variants import MIT_VARIANTS
from paddle_segformer.weights.checkpoint import describe, load_any, read_state_dict
from paddle_segformer.weights.convert import convert_file, to_hf
from paddle_segformer.weights.loading import load_state_dict_strict
from paddle_segformer.weights.reader import CheckpointError, read_checkpoint

from .conftest import REPO


def _torch():
    return pytest.importorskip("torch")


def _transformers():
    _torch()
    return pytest.importorskip("transformers")


def _hf_model(variant="b0", num_labels=7, channels=3, backbone_only=False, seed=0):
    torch, transformers = _torch(), _transformers()
    spec = MIT_VARIANTS[variant]
    config = transformers.SegformerConfig(num_channels=channels, hidden_sizes=list(spec.embed_dims),
                                          depths=list(spec.depths), decoder_hidden_size=spec.decoder_dim,
                                          num_labels=num_labels)
    torch.manual_seed(seed)
    cls = transformers.SegformerModel if backbone_only else transformers.SegformerForSemanticSegmentation
    model = cls(config).eval()
    _randomise_torch(model)
    return model


def _randomise_torch(model):
    """Every weight, bias, LayerNorm and BatchNorm tensor random: a swapped name cannot go unnoticed."""
    with _torch().no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            elif tensor.ndim == 1:
                tensor.normal_(0.0 if name.endswith("bias") else 1.0, 0.1)
            else:
                tensor.normal_(0.0, 0.05)


def _randomise_paddle(model, seed=0):
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in model.state_dict().items():
        shape = tuple(value.shape)
        if name.endswith("_variance"):
            array = rng.uniform(0.5, 2.0, shape)
        elif len(shape) == 1:
            array = rng.normal(0.0 if name.endswith("bias") or name.endswith("_mean") else 1.0, 0.1, shape)
        else:
            array = rng.normal(0.0, 0.05, shape)
        state[name] = paddle.to_tensor(array.astype("float32"))
    model.set_state_dict(state)


def _inputs(channels, size, seed=1):
    return np.random.default_rng(seed).standard_normal((2, channels, *size)).astype("float32")


@pytest.mark.parametrize("variant,channels,classes", [("b0", 3, 7), ("b1", 4, 5)])
def test_parity_with_transformers(tmp_path, variant, channels, classes):
    torch = _torch()
    hf = _hf_model(variant, classes, channels)
    hf.save_pretrained(tmp_path / "hf")
    info = convert_file(str(tmp_path / "hf"), str(tmp_path / "ours.pdparams"))
    assert (info.format, info.variant, info.in_channels, info.num_classes) == ("hf", variant, channels, classes)
    ours = SegFormer(classes, mit(variant, in_channels=channels))
    report = load_state_dict_strict(ours, paddle.load(str(tmp_path / "ours.pdparams")), allow_new_classes=False)
    assert not report.unexpected and len(report.loaded) == len(ours.state_dict())
    ours.eval()
    for size in ((64, 64), (67, 93)):
        x = _inputs(channels, size)
        with torch.no_grad():
            ref = hf(pixel_values=torch.from_numpy(x)).logits
            ref_up = torch.nn.functional.interpolate(ref, size=size, mode="bilinear", align_corners=False)
        with paddle.no_grad():
            quarter = ours.decode(ours.backbone(paddle.to_tensor(x))).numpy()
            full = ours(paddle.to_tensor(x))[0].numpy()
        assert quarter.shape == tuple(ref.shape)
        assert np.abs(quarter - ref.numpy()).max() <= 1e-4
        np.testing.assert_array_equal(quarter.argmax(1), ref.numpy().argmax(1))
        np.testing.assert_array_equal(full.argmax(1), ref_up.numpy().argmax(1))


def test_backbone_only_parity(tmp_path):
    torch = _torch()
    hf = _hf_model("b0", backbone_only=True)
    hf.save_pretrained(tmp_path / "mit")
    state, info = load_any(str(tmp_path / "mit"))
    assert info.backbone_only and info.variant == "b0"
    convert_file(str(tmp_path / "mit"), str(tmp_path / "mit.pdparams"))
    backbone = mit("b0")
    loaded = paddle.load(str(tmp_path / "mit.pdparams"))
    assert set(loaded) == set(backbone.state_dict())  # the backbone's own keys
    backbone.set_state_dict(loaded)
    backbone.eval()
    x = _inputs(3, (67, 93))
    with torch.no_grad():
        maps = hf(pixel_values=torch.from_numpy(x), output_hidden_states=True).hidden_states
    with paddle.no_grad():
        ours = backbone(paddle.to_tensor(x))
    assert len(maps) == len(ours) == 4
    for theirs, mine in zip(maps, ours):
        assert tuple(theirs.shape) == tuple(mine.shape)
        assert np.abs(theirs.numpy() - mine.numpy()).max() <= 1e-4


def _random_ours_in_hf(tmp_path, variant="b2", channels=4, classes=6):
    ours = SegFormer(classes, mit(variant, in_channels=channels))
    _randomise_paddle(ours)
    out, info = to_hf(ours.state_dict(), str(tmp_path / "hf"))
    return ours, out, info


def test_ours_to_hf_and_back_is_bit_identical(tmp_path):
    ours, out, info = _random_ours_in_hf(tmp_path)
    assert info.variant == "b2"
    state = {k: v.numpy() for k, v in ours.state_dict().items()}
    back, _ = load_any(out)
    assert set(back) == set(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key


def test_transformers_loads_our_hf_export_with_the_same_logits(tmp_path):
    torch, transformers = _torch(), _transformers()
    ours, out, _ = _random_ours_in_hf(tmp_path)
    hf = transformers.SegformerForSemanticSegmentation.from_pretrained(out).eval()
    ours.eval()
    x = _inputs(4, (64, 64))
    with torch.no_grad():
        ref = hf(pixel_values=torch.from_numpy(x)).logits.numpy()
    with paddle.no_grad():
        mine = ours.decode(ours.backbone(paddle.to_tensor(x))).numpy()
    assert np.abs(ref - mine).max() <= 1e-4


def _official_state(variant="b0", classes=150, with_prefix=True):
    """An NVlabs state dict written from the official naming (torch layout, numpy arrays), independent of
    our rules."""
    spec = MIT_VARIANTS[variant]
    rng = np.random.default_rng(0)
    state, prev = {}, 3
    pre = "backbone." if with_prefix else ""

    def put(key, *shape):
        state[key] = rng.standard_normal(shape).astype("float32")

    for s, (dim, depth, sr) in enumerate(zip(spec.embed_dims, spec.depths, spec.sr_ratios), 1):
        k = 7 if s == 1 else 3
        put(f"{pre}patch_embed{s}.proj.weight", dim, prev, k, k)
        put(f"{pre}patch_embed{s}.proj.bias", dim)
        put(f"{pre}patch_embed{s}.norm.weight", dim), put(f"{pre}patch_embed{s}.norm.bias", dim)
        for b in range(depth):
            blk = f"{pre}block{s}.{b}."
            for name, shape in (("norm1", (dim,)), ("norm2", (dim,)), ("attn.q", (dim, dim)),
                                ("attn.kv", (2 * dim, dim)), ("attn.proj", (dim, dim)),
                                ("mlp.fc1", (4 * dim, dim)), ("mlp.fc2", (dim, 4 * dim)),
                                ("mlp.dwconv.dwconv", (4 * dim, 1, 3, 3))):
                put(blk + name + ".weight", *shape)
                put(blk + name + ".bias", shape[0])
            if sr > 1:
                put(blk + "attn.sr.weight", dim, dim, sr, sr), put(blk + "attn.sr.bias", dim)
                put(blk + "attn.norm.weight", dim), put(blk + "attn.norm.bias", dim)
        put(f"{pre}norm{s}.weight", dim), put(f"{pre}norm{s}.bias", dim)
        prev = dim
    if not with_prefix:
        put("head.weight", 1000, spec.embed_dims[-1]), put("head.bias", 1000)  # ImageNet classifier
        return state
    dec = spec.decoder_dim
    for s, dim in enumerate(spec.embed_dims, 1):
        put(f"decode_head.linear_c{s}.proj.weight", dec, dim), put(f"decode_head.linear_c{s}.proj.bias", dec)
    put("decode_head.linear_fuse.conv.weight", dec, 4 * dec, 1, 1)
    for name in ("weight", "bias", "running_mean"):
        put(f"decode_head.linear_fuse.bn.{name}", dec)
    state["decode_head.linear_fuse.bn.running_var"] = rng.uniform(0.5, 1.5, dec).astype("float32")
    state["decode_head.linear_fuse.bn.num_batches_tracked"] = np.array(5, np.int64)
    put("decode_head.linear_pred.weight", classes, dec, 1, 1), put("decode_head.linear_pred.bias", classes)
    put("decode_head.conv_seg.weight", classes, dec, 1, 1), put("decode_head.conv_seg.bias", classes)
    return state


def _torch_tensors(state):
    torch = _torch()
    return {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}


def test_nvlabs_model_checkpoint(tmp_path):
    official = _official_state("b0", 150)
    _torch().save({"meta": {"CLASSES": ["wall"]}, "state_dict": _torch_tensors(official)},
                  tmp_path / "segformer.b0.pth")
    info = convert_file(str(tmp_path / "segformer.b0.pth"), str(tmp_path / "b0.pdparams"), fmt="nvlabs")
    assert (info.variant, info.num_classes, info.decoder_dim) == ("b0", 150, 256)
    assert sorted(info.dropped) == ["decode_head.conv_seg.bias", "decode_head.conv_seg.weight",
                                    "decode_head.linear_fuse.bn.num_batches_tracked"]
    model = SegFormer(150, mit("b0"), pretrained=str(tmp_path / "b0.pdparams"))  # strict loading
    got = model.state_dict()
    q = official["backbone.block2.1.attn.q.weight"]
    np.testing.assert_array_equal(got["backbone.block2.1.attn.q.weight"].numpy(), q.T)  # Linear transposed
    np.testing.assert_array_equal(got["backbone.block1.0.attn.sr.weight"].numpy(),
                                  official["backbone.block1.0.attn.sr.weight"])  # conv as is
    np.testing.assert_array_equal(got["linear_fuse._batch_norm._variance"].numpy(),
                                  official["decode_head.linear_fuse.bn.running_var"])
    np.testing.assert_array_equal(got["linear_c3.proj.weight"].numpy(),
                                  official["decode_head.linear_c3.proj.weight"].T)
    # the .pth is also accepted directly as `pretrained:`
    direct = SegFormer(150, mit("b0"), pretrained=str(tmp_path / "segformer.b0.pth"))
    np.testing.assert_array_equal(direct.linear_pred.weight.numpy(), model.linear_pred.weight.numpy())


def test_nvlabs_imagenet_backbone(tmp_path):
    official = _official_state("b1", with_prefix=False)
    _torch().save(_torch_tensors(official), tmp_path / "mit_b1.pth")
    info = convert_file(str(tmp_path / "mit_b1.pth"), str(tmp_path / "mit_b1.pdparams"))
    assert info.format == "nvlabs" and info.backbone_only and info.variant == "b1"
    assert info.dropped == ["head.weight", "head.bias"]
    backbone = mit("b1", pretrained=str(tmp_path / "mit_b1.pdparams"))  # strict: every key loaded
    got = backbone.state_dict()
    assert len(got) == len(official) - 2
    for key, value in official.items():
        if key.startswith("head."):
            continue
        linear = value.ndim == 2  # torch Linear (out, in) -> Paddle (in, out)
        np.testing.assert_array_equal(got[key].numpy(), value.T if linear else value, err_msg=key)


def test_paddleseg_format_and_variant_inference(tmp_path):
    from paddleseg.models import SegFormer as PaddleSegSegFormer
    from paddleseg.models.backbones.mix_transformer import MixVisionTransformer_B3

    theirs = PaddleSegSegFormer(19, MixVisionTransformer_B3(), 768)
    paddle.save(theirs.state_dict(), str(tmp_path / "pseg.pdparams"))
    info = convert_file(str(tmp_path / "pseg.pdparams"), str(tmp_path / "ours.pdparams"))
    assert (info.format, info.variant, info.num_classes) == ("paddleseg", "b3", 19)
    converted = paddle.load(str(tmp_path / "ours.pdparams"))
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(converted[key].numpy(), value.numpy())


def test_variant_is_checked_and_inferred():
    state = {k: v.numpy() for k, v in SegFormer(2, mit("b2")).state_dict().items()}
    assert describe(state)[0] == "b2"
    with pytest.raises(CheckpointError, match="not those of b3"):
        describe(state, "b3")


def test_unknown_format_is_named(tmp_path):
    from safetensors.numpy import save_file

    save_file({"model.layer1.conv.weight": np.zeros((2, 2), "float32")}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match=r"other\.safetensors matches no known SegFormer format; "
                                              r"expected keys like hf: segformer\.encoder"):
        load_any(str(tmp_path / "other.safetensors"))
    to_hf(SegFormer(7, mit("b0")).state_dict(), str(tmp_path / "hf"))
    with pytest.raises(CheckpointError, match="expected keys like nvlabs"):
        load_any(str(tmp_path / "hf"), fmt_name="nvlabs")
    state = read_checkpoint(str(tmp_path / "hf"))
    state["segformer.encoder.block.0.0.attention.self.rotary.weight"] = np.zeros(2, "float32")
    save_file(state, str(tmp_path / "odd.safetensors"))
    with pytest.raises(CheckpointError, match=r"odd\.safetensors: 1 key\(s\) match no hf rule.*rotary"):
        load_any(str(tmp_path / "odd.safetensors"))


def test_safetensors_need_no_torch(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    to_hf(SegFormer(7, mit("b0")).state_dict(), str(tmp_path / "hf"))
    state = read_checkpoint(str(tmp_path / "hf" / "model.safetensors"))
    assert "segformer.encoder.block.0.0.attention.self.query.weight" in state
    back, info = load_any(str(tmp_path / "hf"))
    assert info.format == "hf" and info.num_classes == 7


def test_transformers5_module_names_and_containers(tmp_path):
    torch = _torch()
    hf = _hf_model("b0", 3)
    hf.save_pretrained(tmp_path / "hub")
    reference, _ = load_any(str(tmp_path / "hub"))
    # a torch.save of the live module (transformers-5 names), wrapped as DDP training scripts do
    torch.save({"model": {f"module.{k}": v for k, v in hf.state_dict().items()}}, tmp_path / "live.bin")
    converted, info = load_any(str(tmp_path / "live.bin"))
    assert info.format == "hf" and set(converted) == set(reference)
    for key in reference:
        np.testing.assert_array_equal(converted[key], reference[key], err_msg=key)


def test_convert_weights_cli_both_ways(tmp_path):
    import subprocess
    import sys

    to_hf(SegFormer(5, mit("b0")).state_dict(), str(tmp_path / "hf"))
    script = str(REPO / "scripts" / "convert_weights.py")
    run = subprocess.run([sys.executable, script, "--src", str(tmp_path / "hf"), "--out", str(tmp_path / "b0.pdparams")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "(hf) ->" in run.stdout and "MiT-B0 model with 5 classes" in run.stdout
    back = subprocess.run([sys.executable, script, "--src", str(tmp_path / "b0.pdparams"), "--to", "hf", "--out",
                           str(tmp_path / "again")], capture_output=True, text=True)
    assert back.returncode == 0, back.stderr
    first, second = read_checkpoint(str(tmp_path / "hf")), read_checkpoint(str(tmp_path / "again"))
    assert set(first) == set(second)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    bad = subprocess.run([sys.executable, script, "--src", str(tmp_path / "hf"), "--variant", "b9", "--out",
                          str(tmp_path / "x.pdparams")], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown MiT variant 'b9'" in bad.stderr and "Traceback" not in bad.stderr


def test_format_named_against_layout(tmp_path):
    _torch().save(_torch_tensors(_official_state("b0", with_prefix=False)), tmp_path / "mit_b0.pth")
    with pytest.raises(CheckpointError, match=r"PyTorch \(out, in\) layout, which is the nvlabs format, not paddleseg"):
        load_any(str(tmp_path / "mit_b0.pth"), fmt_name="paddleseg")


class _Meta:
    """Not a tensor: ``torch.load(weights_only=True)`` refuses to unpickle it."""

    def __init__(self, name):
        self.name = name


def test_pickles_that_are_not_plain_tensors_need_trust(tmp_path):
    """README: ``--trust_pickle`` allows .pth files that are not plain tensors (only for files you trust)."""
    official = _official_state("b0", with_prefix=False)
    _torch().save({"meta": _Meta("mit_b0"), "state_dict": _torch_tensors(official)}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"(?s)odd\.pth: not loadable as plain weights.*--trust_pickle"):
        read_checkpoint(str(tmp_path / "odd.pth"))
    state = read_checkpoint(str(tmp_path / "odd.pth"), trust_pickle=True)
    np.testing.assert_array_equal(state["block1.0.mlp.fc1.weight"], official["block1.0.mlp.fc1.weight"])
