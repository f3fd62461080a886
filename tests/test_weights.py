"""Strict pretrained loading, its report, opting out, and band-count adaptation."""
import logging

import numpy as np
import paddle
import pytest

from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.weights.bands import adapt_in_channels
from paddle_segformer.weights.loading import load_pretrained, pretrained_target
from paddle_segformer.weights.reader import CheckpointError

RGB_WEIGHT = np.random.default_rng(0).standard_normal((8, 3, 7, 7)).astype("float32")


def _conv(weight, x):
    """Valid 2-D correlation summed over bands: (out, C, k, k) x (C, H, W) -> (out,)."""
    return np.einsum("ocij,cij->o", weight, x)


@pytest.mark.parametrize("bands", [1, 2, 4, 6])
def test_rgb_mean_keeps_activations_for_equal_bands(bands):
    grey = np.random.default_rng(1).standard_normal((7, 7)).astype("float32")
    adapted = adapt_in_channels(RGB_WEIGHT, bands, "rgb_mean")
    assert adapted.shape == (8, bands, 7, 7)
    expected = _conv(RGB_WEIGHT, np.stack([grey] * 3))
    np.testing.assert_allclose(_conv(adapted, np.stack([grey] * bands)), expected, rtol=1e-4, atol=1e-4)
    if bands > 3:  # the pretrained RGB filters survive (up to the common scale)
        np.testing.assert_allclose(adapted[:, :3] * bands / 3, RGB_WEIGHT, rtol=1e-5)


def test_other_strategies():
    expected_mean = RGB_WEIGHT.mean(axis=1) * 3 / 5
    mean = adapt_in_channels(RGB_WEIGHT, 5, "mean")
    for band in range(5):
        np.testing.assert_allclose(mean[:, band], expected_mean, rtol=1e-5)
    rgb = adapt_in_channels(RGB_WEIGHT, 5, "rgb_mean")
    np.testing.assert_allclose(rgb[:, 4], expected_mean, rtol=1e-5)
    rand = adapt_in_channels(RGB_WEIGHT, 5, "random")
    np.testing.assert_array_equal(rand[:, :3], RGB_WEIGHT)
    assert abs(rand[:, 3:].std() - RGB_WEIGHT.std()) < 0.2
    np.testing.assert_array_equal(adapt_in_channels(RGB_WEIGHT, 2, "random"), RGB_WEIGHT[:, :2])
    with pytest.raises(ValueError, match="band_adapt must be one of"):
        adapt_in_channels(RGB_WEIGHT, 4, "zeros")


@pytest.fixture(scope="module")
def rgb_backbone_file(tmp_path_factory):
    paddle.seed(0)
    path = tmp_path_factory.mktemp("w") / "mit_b0.pdparams"
    paddle.save(mit("b0").state_dict(), str(path))
    return path


def test_four_band_model_from_rgb_backbone(rgb_backbone_file, caplog):
    source = paddle.load(str(rgb_backbone_file))
    with caplog.at_level(logging.WARNING, logger="paddle_segformer.weights.loading"):
        backbone = mit("b0", in_channels=4, pretrained=str(rgb_backbone_file))
    assert "patch_embed1.proj.weight 3->4 bands (rgb_mean)" in caplog.text
    np.testing.assert_allclose(backbone.patch_embed1.proj.weight.numpy()[:, :3] * 4 / 3,
                               source["patch_embed1.proj.weight"].numpy(), rtol=1e-5)
    np.testing.assert_array_equal(backbone.block3[1].attn.kv.weight.numpy(), source["block3.1.attn.kv.weight"].numpy())
    rgb = source["patch_embed1.proj.weight"].numpy()
    np.testing.assert_allclose(backbone.patch_embed1.proj.weight.numpy()[:, 3], rgb.mean(axis=1) * 3 / 4, rtol=1e-5)


@pytest.mark.parametrize("strategy", ["mean", "rgb_mean"])
def test_band_strategy_selectable_in_config(rgb_backbone_file, tmp_path, registered, strategy):
    """A 5-band config with an RGB checkpoint: the config's band_adapt decides the first conv's weights."""
    import yaml

    from paddle_segformer.integration.config import load_config

    norm = {"type": "BandNormalize", "mode": "meanstd", "mean": [0.0] * 5, "std": [1.0] * 5}
    dataset = {"type": "GeoTiffDataset", "dataset_root": str(tmp_path), "train_path": "train.txt", "mode": "train",
               "num_classes": 3, "img_channels": 5, "transforms": [norm]}
    from .conftest import CONFIGS

    cfg = {"_base_": str(CONFIGS / "_base_" / "schedule_adamw_poly.yml"), "batch_size": 2, "iters": 10,
           "model": {"type": "SegFormer", "backbone": {"type": "MixVisionTransformer_B0",
                                                       "pretrained": str(rgb_backbone_file), "band_adapt": strategy}},
           "train_dataset": dataset}
    (tmp_path / "c.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    _, builder = load_config(str(tmp_path / "c.yml"))
    got = builder.model.backbone.patch_embed1.proj.weight.numpy()
    rgb = paddle.load(str(rgb_backbone_file))["patch_embed1.proj.weight"].numpy()
    assert got.shape == (32, 5, 7, 7)
    mean = rgb.mean(axis=1) * 3 / 5
    first = mean[:, None].repeat(3, axis=1) if strategy == "mean" else rgb * 3 / 5  # rgb_mean keeps R, G, B
    np.testing.assert_allclose(got[:, :3], first, rtol=1e-5, atol=1e-7)
    for band in (3, 4):
        np.testing.assert_allclose(got[:, band], mean, rtol=1e-5, atol=1e-7)


def test_missing_backbone_keys_fail_unless_opted_out(rgb_backbone_file, tmp_path, caplog):
    state = paddle.load(str(rgb_backbone_file))
    del state["block4.1.mlp.fc2.weight"]
    path = tmp_path / "partial.pdparams"
    paddle.save(state, str(path))
    with pytest.raises(CheckpointError, match=r"(?s)partial\.pdparams.*missing 1.*block4\.1\.mlp\.fc2\.weight"):
        mit("b0", pretrained=str(path))
    with caplog.at_level(logging.WARNING, logger="paddle_segformer.weights.loading"):
        backbone = mit("b0", pretrained=str(path), pretrained_strict=False)
    assert "strict loading is off" in caplog.text and "block4.1.mlp.fc2.weight" in caplog.text
    np.testing.assert_array_equal(backbone.block4[0].mlp.fc2.weight.numpy(), state["block4.0.mlp.fc2.weight"].numpy())


def test_report_counts_and_new_classes(tmp_path, caplog):
    paddle.seed(0)
    source = SegFormer(19, mit("b0"))
    state = source.state_dict()
    paddle.save(state, str(tmp_path / "city.pdparams"))
    target = SegFormer(4, mit("b0"))
    fresh = target.linear_pred.weight.numpy().copy()
    with caplog.at_level(logging.INFO, logger="paddle_segformer.weights.loading"):
        report = load_pretrained(target, str(tmp_path / "city.pdparams"))
    np.testing.assert_array_equal(target.linear_pred.weight.numpy(), fresh)  # kept its own classifier
    np.testing.assert_array_equal(target.linear_fuse._conv.weight.numpy(), source.linear_fuse._conv.weight.numpy())
    assert report.reinitialised == ["linear_pred.weight", "linear_pred.bias"]
    assert len(report.loaded) == len(state) - 2 and not report.missing and not report.unexpected
    assert "re-initialised (class count differs)" in caplog.text


def test_unexpected_keys_are_refused_unless_strict_is_off(tmp_path):
    """Before: keys the model does not have were reported and the load went on."""
    paddle.seed(0)
    state = SegFormer(19, mit("b0")).state_dict()
    state["aux_head.weight"] = paddle.zeros([3])
    paddle.save(state, str(tmp_path / "extra.pdparams"))
    with pytest.raises(CheckpointError, match=r"(?s)unexpected 1.*unexpected: aux_head\.weight"):
        load_pretrained(SegFormer(19, mit("b0")), str(tmp_path / "extra.pdparams"))
    report = load_pretrained(SegFormer(19, mit("b0")), str(tmp_path / "extra.pdparams"), strict=False)
    assert report.skipped and report.unexpected == ["aux_head.weight"] and not report.missing


def test_whole_model_checkpoint_as_backbone(tmp_path):
    paddle.seed(0)
    source = SegFormer(19, mit("b0"))
    paddle.save(source.state_dict(), str(tmp_path / "full.pdparams"))
    assert pretrained_target(str(tmp_path / "full.pdparams")) == "model"
    report = load_pretrained(mit("b0"), str(tmp_path / "full.pdparams"), what="backbone")
    assert not report.missing and not report.unexpected  # the decoder's keys are left out, not refused


def test_train_py_pretrained_flag(tiny_config, rgb_backbone_file, tmp_path, caplog, registered):
    from paddle_segformer.cli.train import train

    assert pretrained_target(str(rgb_backbone_file)) == "backbone"
    with caplog.at_level(logging.INFO, logger="paddle_segformer.weights.loading"):
        model = train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=1, pretrained=str(rgb_backbone_file))
    assert "backbone weights" in caplog.text and "missing 0" in caplog.text
    assert model.backbone.pretrained == str(rgb_backbone_file)
