"""GeoTIFF rasters: reading with metadata, config-driven N-band datasets, training, georeferenced and
tiled prediction, bad inputs."""
import logging
import os

import numpy as np
import paddle
import pytest
import rasterio

from paddle_segformer.data.split import split_dataset
from paddle_segformer.data.synthetic_raster import CRS, write_raster_dataset
from paddle_segformer.inference.options import TilingOptions
from paddle_segformer.inference.tiled import Tiling
from paddle_segformer.integration.config import ConfigError, load_config
from paddle_segformer.io.image import ImageReadError
from paddle_segformer.io.raster import iter_windows, read_meta, read_raster, write_label_raster

from .conftest import CONFIGS, write_config

RGBN = CONFIGS / "geotiff" / "segformer_b0_rgbn.yml"


def _dataset(tmp_path, bands=4, dtype="uint16", nodata=None, label_format="tif", n=9, size=64):
    root = tmp_path / f"data{bands}{dtype}{nodata}{label_format}"
    write_raster_dataset(str(root), n=n, size=size, bands=bands, dtype=dtype, nodata=nodata,
                         label_format=label_format, seed=bands)
    split_dataset((0.67, 0.33, 0.0), str(root / "img"), str(root / "lab"), seed=0)
    return root


def _config(tmp_path, root, bands=4, stats=None, extra=None):
    mean, std = stats or ([4000.0] * bands, [1500.0] * bands)
    norm = {"type": "BandNormalize", "mode": "meanstd", "mean": mean, "std": std}
    overrides = {"batch_size": 2, "iters": 4,
                 "train_dataset": {"dataset_root": str(root), "img_channels": bands,
                                   "transforms": [{"type": "BandRandomPaddingCrop", "crop_size": [48, 48]},
                                                  {"type": "RandomHorizontalFlip"}, norm]},
                 "val_dataset": {"dataset_root": str(root), "transforms": [norm]}}
    overrides.update(extra or {})
    return write_config(tmp_path / f"cfg{bands}.yml", root, overrides, base=str(RGBN))


@pytest.mark.parametrize("bands,dtype,nodata", [(1, "uint8", None), (4, "uint16", 0), (6, "uint16", None),
                                                (4, "float32", -9999.0)])
def test_read_metadata_round_trip(tmp_path, bands, dtype, nodata):
    root = tmp_path / "r"
    write_raster_dataset(str(root), n=1, size=40, bands=bands, dtype=dtype, nodata=nodata)
    img, meta = read_raster(root / "img" / "T0000.tif")
    assert img.shape == (40, 40, bands) and img.dtype == np.dtype(dtype)
    assert meta.crs.to_string() == CRS and meta.transform.a == 10.0 and meta.nodata == nodata
    window, _ = read_raster(root / "img" / "T0000.tif", window=(5, 7, 10, 20), bands=[bands])
    np.testing.assert_array_equal(window[:, :, 0], img[5:15, 7:27, bands - 1])
    labels = np.arange(40 * 40).reshape(40, 40) % 4
    write_label_raster(tmp_path / "out.tif", labels, meta, {i: (i, 0, 0, 255) for i in range(4)}, nodata=255)
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.crs == meta.crs and out.transform == meta.transform and out.count == 1
        assert out.compression.name.lower() == "deflate" and out.colormap(1)[3] == (3, 0, 0, 255)
        assert out.nodata == 255
        np.testing.assert_array_equal(out.read(1), labels)
    assert os.listdir(tmp_path).count("out.tif") == 1 and not [f for f in os.listdir(tmp_path) if ".part" in f]


def test_windows_cover_and_shift_inward():
    wins = list(iter_windows(100, 130, 48, 8))
    assert all(r + h <= 100 and c + w <= 130 for r, c, h, w in wins)
    covered = np.zeros((100, 130), int)
    for r, c, h, w in wins:
        covered[r:r + h, c:c + w] += 1
    assert covered.min() >= 1 and (max(r for r, *_ in wins), max(c for _, c, *_ in wins)) == (52, 82)
    assert list(iter_windows(30, 40, 512, 64)) == [(0, 0, 30, 40)]
    narrow = list(iter_windows(40, 2000, 512, 64))  # only the width is tiled: the overlap is fine
    assert narrow[0] == (0, 0, 40, 512) and narrow[-1] == (0, 1488, 40, 512)
    with pytest.raises(ValueError, match="overlap 64 must be smaller than the tile"):
        list(iter_windows(100, 100, 64, 64))
    with pytest.raises(ValueError, match="overlap >= 0"):
        list(iter_windows(100, 100, 64, -8))


def test_four_band_uint16_training_and_nodata(tmp_path, registered, caplog):
    from paddle_segformer.cli.train import train

    root = _dataset(tmp_path, 4, "uint16", nodata=0)
    cfg = _config(tmp_path, root, 4)
    _, builder = load_config(str(cfg))
    assert builder.model.backbone.in_channels == 4 and builder.model.num_classes == 4
    assert builder.loss["types"][0].ignore_index == 255
    with caplog.at_level(logging.INFO, logger="paddle_segformer.data.check"):
        dataset = builder.val_dataset
    assert "dataset check: 3 pairs OK; class frequencies 0:" in caplog.text
    image, label = dataset.load(0)
    corner = np.add.outer(np.arange(64), np.arange(64)) < 64 // 3
    assert (label[corner] == 255).all() and (label[~corner] != 255).any()  # nodata -> ignore
    np.testing.assert_allclose(image[corner], 4000.0)  # nodata -> the normaliser's zero point
    model = train(str(cfg), save_dir=str(tmp_path / "out"), iters=4, log_iters=1, save_interval=4)
    assert model.backbone.patch_embed1.proj.weight.shape[1] == 4
    assert os.path.isfile(tmp_path / "out" / "iter_4" / "model.pdparams")


def test_six_band_and_png_labels(tmp_path, registered):
    root = _dataset(tmp_path, 6, "uint16", label_format="png")
    cfg = _config(tmp_path, root, 6)
    _, builder = load_config(str(cfg))
    data = builder.train_dataset[0]
    assert data["img"].shape == (6, 48, 48) and data["label"].shape == (48, 48)


def test_predict_writes_georeferenced_labels_and_tiles_match_whole(tmp_path, registered):
    from paddle_segformer.cli.predict import predict

    root = _dataset(tmp_path, 4, "uint16", nodata=0, n=3, size=96)
    cfg = _config(tmp_path, root, 4)
    _, builder = load_config(str(cfg))
    paddle.seed(0)
    paddle.save(builder.model.state_dict(), str(tmp_path / "m.pdparams"))
    src = root / "img" / "T0001.tif"
    whole = predict(str(cfg), str(tmp_path / "m.pdparams"), str(src), str(tmp_path / "whole"),
                    tiling=TilingOptions(tile=0))
    assert not whole.failed and (tmp_path / "whole" / "label" / "T0001.png").is_file()  # PNGs too
    with rasterio.open(tmp_path / "whole" / "geotiff" / "T0001.tif") as out:
        meta = read_meta(src)
        assert out.crs == meta.crs and out.transform == meta.transform and out.nodata == 255
        reference = out.read(1)
    corner = np.add.outer(np.arange(96), np.arange(96)) < 96 // 3
    assert (reference[corner] == 255).all() and reference[~corner].max() < 4
    predict(str(cfg), str(tmp_path / "m.pdparams"), str(src), str(tmp_path / "one_tile"),
            tiling=TilingOptions(tile=96, overlap=0))
    with rasterio.open(tmp_path / "one_tile" / "geotiff" / "T0001.tif") as out:
        np.testing.assert_array_equal(out.read(1), reference)  # tile = whole image: exactly the same
    predict(str(cfg), str(tmp_path / "m.pdparams"), str(src), str(tmp_path / "tiles"),
            tiling=TilingOptions(tile=64, overlap=24, batch_size=2))
    with rasterio.open(tmp_path / "tiles" / "geotiff" / "T0001.tif") as out:
        tiled = out.read(1)
    # a random-weight transformer attends globally, so tiles see less context: 85.6 % of the pixels agree here
    # (measured); the blending itself is tested exactly with a local model in test_tiled_blending_differs_only...
    assert (tiled == reference).mean() >= 0.85
    assert not (tmp_path / "tiles" / "label").exists()  # tiled mode writes the GeoTIFF only


def _local_model(radius=2, classes=4, seed=0):
    """A model whose logits depend only on a (2r+1)^2 neighbourhood (zero padding at its input's edge)."""
    kernel = np.random.default_rng(seed).standard_normal((classes, 4, 2 * radius + 1, 2 * radius + 1))

    def logits(batch):
        n, c, h, w = batch.shape
        padded = np.pad(batch, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
        out = np.zeros((n, classes, h, w), np.float32)
        for dy in range(2 * radius + 1):
            for dx in range(2 * radius + 1):
                out += np.einsum("kc,nchw->nkhw", kernel[:, :, dy, dx], padded[:, :, dy:dy + h, dx:dx + w])
        return out

    return logits


def test_tiled_blending_differs_only_in_a_thin_band(tmp_path):
    from paddle_segformer.inference.tiled import predict_scene

    root = tmp_path / "s"
    write_raster_dataset(str(root), n=1, size=150, bands=4, dtype="uint16")  # 150: the last tiles shift inward
    src = str(root / "img" / "T0000.tif")
    model, radius = _local_model(2), 2
    norm = lambda x: (x.astype(np.float32) - 4000.0) / 1500.0  # noqa: E731
    predict_scene(model, norm, src, str(tmp_path / "whole.tif"), 4, tiling=Tiling(tile=150, overlap=0), progress=False)
    predict_scene(model, norm, src, str(tmp_path / "tiles.tif"), 4,
                  tiling=Tiling(tile=64, overlap=16, batch_size=3), progress=False)
    assert (max(r for r, *_ in iter_windows(150, 150, 64, 16)), 150 - 64) == (86, 86)
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "tiles.tif") as b:
        whole, tiled = a.read(1), b.read(1)
    image = norm(read_raster(src)[0]).transpose(2, 0, 1)[None]
    np.testing.assert_array_equal(whole, model(image)[0].argmax(0))  # one tile: exactly the direct result
    near_edge = np.zeros_like(whole, bool)  # pixels within `radius` of a tile edge inside the scene
    for r, c, h, w in iter_windows(150, 150, 64, 16):
        for edge in (r, r + h):
            if 0 < edge < 150:
                near_edge[max(edge - radius, 0):edge + radius, c:c + w] = True
        for edge in (c, c + w):
            if 0 < edge < 150:
                near_edge[r:r + h, max(edge - radius, 0):edge + radius] = True
    differ = whole != tiled
    assert not differ[~near_edge].any()  # away from tile edges: identical
    assert differ.mean() < 0.02, differ.mean()


def test_interrupted_scene_leaves_no_file(tmp_path):
    from paddle_segformer.inference.tiled import predict_scene

    root = tmp_path / "s"
    write_raster_dataset(str(root), n=1, size=64, bands=4)
    calls = []

    def logits(batch):
        calls.append(1)
        if len(calls) == 5:  # windows per row: cols 0, 24, 32 -> the first flush happened at call 4
            raise KeyboardInterrupt
        return np.zeros((len(batch), 4) + batch.shape[2:], np.float32)

    with pytest.raises(KeyboardInterrupt):  # after the first strip of rows was already written
        predict_scene(logits, lambda x: x.astype(np.float32), str(root / "img" / "T0000.tif"), str(tmp_path / "o.tif"),
                      4, tiling=Tiling(tile=32, overlap=8, batch_size=1), progress=False)
    assert os.listdir(tmp_path) == ["s"]


def test_bad_rasters(tmp_path, registered):
    root = _dataset(tmp_path, 4, "uint16")
    wrong_bands = _config(tmp_path, root, 3)
    with pytest.raises(Exception, match=r"T00\d\d\.tif: has 4 band\(s\), the config expects 3"):
        load_config(str(wrong_bands))[1].train_dataset
    lab = root / (root / "train.txt").read_text().splitlines()[0].split(" ")[1]
    with rasterio.open(lab) as src:
        profile, data = src.profile, src.read()
    profile.update(crs="EPSG:4326")
    with rasterio.open(lab, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(Exception, match=rf"{lab.name}: CRS EPSG:4326 differs"):
        load_config(str(_config(tmp_path, root, 4)))[1].train_dataset
    (root / "img" / "T0000.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(ImageReadError, match=r"T0000\.tif: cannot read raster"):
        read_meta(root / "img" / "T0000.tif")


def test_eight_bit_rgb_transforms_refused(tmp_path, registered):
    root = _dataset(tmp_path, 4, "uint16")
    cfg = _config(tmp_path, root, 4, extra={"train_dataset": {
        "dataset_root": str(root), "img_channels": 4, "transforms": [{"type": "RandomDistort"},
                                                                     {"type": "Normalize"}]}})
    with pytest.raises(ConfigError, match="RandomDistort cannot be used on N-band / 16-bit rasters"):
        from paddle_segformer.integration.config import build

        build(load_config(str(cfg))[1], "train_dataset", str(cfg))


def test_band_stats(tmp_path):
    from paddle_segformer.data.band_stats import compute_band_stats

    root = tmp_path / "b"
    write_raster_dataset(str(root), n=2, size=32, bands=4, dtype="uint16", nodata=0)
    files = sorted(str(p) for p in (root / "img").glob("*.tif"))
    stats = compute_band_stats(files, progress=False)
    pixels = np.concatenate([read_raster(f)[0].reshape(-1, 4) for f in files])
    pixels = pixels[~np.all(pixels == 0, axis=1)].astype(np.float64)
    assert stats.count == len(pixels)
    np.testing.assert_allclose(stats.mean, pixels.mean(0), rtol=1e-9)
    np.testing.assert_allclose(stats.std, pixels.std(0), rtol=1e-6)
    np.testing.assert_array_equal(stats.percentiles[98], np.percentile(pixels, 98, axis=0, method="inverted_cdf"))
    assert "mode: meanstd" in stats.snippet()


def test_overlaps_are_blended_not_overwritten(tmp_path):
    """Two tiles voting for different classes: the overlap splits in its middle (weighted blend);
    last-writer-wins would give the whole overlap to the second tile."""
    from paddle_segformer.inference.tiled import predict_scene

    root = tmp_path / "s"
    write_raster_dataset(str(root), n=1, size=96, bands=4)  # 96 x 96 scene: tiles at columns 0 and 32
    calls = []

    def logits(batch):
        out = np.zeros((len(batch), 2) + batch.shape[2:], np.float32)
        for i in range(len(batch)):
            out[i, len(calls) % 2] = 1.0  # tile 0 says class 0, tile 1 says class 1 (per row of tiles)
            calls.append(1)
        return out

    predict_scene(logits, lambda x: x.astype(np.float32), str(root / "img" / "T0000.tif"), str(tmp_path / "b.tif"),
                  2, tiling=Tiling(tile=64, overlap=32), progress=False)
    with rasterio.open(tmp_path / "b.tif") as out:
        labels = out.read(1)
    row = labels[10]
    assert (row[:48] == 0).all() and (row[48:] == 1).all(), row


def test_truncated_tif_caught_at_start_and_skipped_in_folders(tmp_path, registered):
    from paddle_segformer.cli.predict import predict

    root = _dataset(tmp_path, 4, "uint16")
    victim = root / (root / "train.txt").read_text().splitlines()[0].split(" ")[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) * 2 // 3])  # header intact, pixels cut off
    cfg = _config(tmp_path, root, 4)
    with pytest.raises(Exception, match=rf"{victim.name}: cannot read raster"):
        load_config(str(cfg))[1].train_dataset
    _, builder = load_config(str(_config(tmp_path, root, 4, extra={"train_dataset": {
        "dataset_root": str(root), "img_channels": 4, "check": False,
        "transforms": [{"type": "BandNormalize", "mode": "meanstd", "mean": [4000.0] * 4, "std": [1500.0] * 4}]}})))
    paddle.save(builder.model.state_dict(), str(tmp_path / "m.pdparams"))
    summary = predict(str(cfg), str(tmp_path / "m.pdparams"), str(root / "img"), str(tmp_path / "out"),
                      tiling=TilingOptions(tile=0))
    assert [p.name for p, _ in summary.failed] == [victim.name]
    assert len(summary.written) == 8 and len(list((tmp_path / "out" / "geotiff").glob("*.tif"))) == 8


def test_unknown_transform_refused(tmp_path, registered):
    from paddle_segformer.integration.config import build

    root = _dataset(tmp_path, 4, "uint16")
    cfg = _config(tmp_path, root, 4, extra={"train_dataset": {"dataset_root": str(root), "img_channels": 4,
                                                              "transforms": [{"type": "RandomAffine"}]}})
    with pytest.raises(ConfigError, match="RandomAffine cannot be used on N-band / 16-bit rasters .*uint8"):
        build(load_config(str(cfg))[1], "train_dataset", str(cfg))


def test_example_config_trains_and_predicts_once_paths_are_set(tmp_path, registered):
    import yaml

    from paddle_segformer.cli.predict import predict
    from paddle_segformer.cli.train import train

    root = _dataset(tmp_path, 4, "uint16", nodata=0, n=6)
    cfg = tmp_path / "rgbn.yml"
    cfg.write_text(yaml.safe_dump({"_base_": str(RGBN), "batch_size": 2,
                                   "train_dataset": {"dataset_root": str(root)},
                                   "val_dataset": {"dataset_root": str(root)}}), encoding="utf-8")
    train(str(cfg), save_dir=str(tmp_path / "out"), iters=2, save_interval=2, do_eval=True,
          pretrained="none")  # offline: the config's ImageNet URL is not read
    summary = predict(str(cfg), str(tmp_path / "out" / "iter_2"), str(root / "img"), str(tmp_path / "pred"))
    assert not summary.failed and len(list((tmp_path / "pred" / "geotiff").glob("*.tif"))) == 6
