"""predict.py --save_scores: the winning class's probability (uint8) beside each label GeoTIFF, from the
blended logits that gave the label, as a COG with the label's georeferencing; only when asked."""
import numpy as np
import paddle
import pytest
import rasterio
from rasterio.transform import from_origin

from paddle_segformer.inference.scores import scores_of
from paddle_segformer.inference.tiled import Tiling, predict_array, predict_scene
from paddle_segformer.io.raster import score_path

from .test_geotiff import _config, _dataset

K = 5
MIX = np.random.default_rng(7).normal(0, 1.5, (K, 3)).astype(np.float32)


def reference(logits):
    """round half up (255 * max softmax), in float64."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0)
    return np.floor(p.max(axis=0) * 255 + 0.5)


def pixel_logits(batch):
    """(N, 3, h, w) -> (N, K, h, w): a per-pixel linear map, so every tile gives a pixel the same logits."""
    return np.einsum("kc,nchw->nkhw", MIX, batch).astype(np.float32)


def test_scores_of_is_max_softmax_times_255():
    logits = np.random.default_rng(0).normal(0, 3, (K, 150, 70)).astype(np.float32)
    got = scores_of(logits)
    assert got.dtype == np.uint8 and np.abs(got - reference(logits)).max() <= 1
    assert got.min() >= 1  # 0 is left for nodata
    weights = np.random.default_rng(1).uniform(0.1, 2, (150, 70)).astype(np.float32)
    assert np.abs(scores_of(logits * weights, weights) - got.astype(int)).max() <= 1  # blended: divided first


def scene(path, h=700, w=600):
    rng = np.random.default_rng(3)
    pixels = rng.integers(1, 255, (3, h, w)).astype(np.uint8)
    pixels[:, :90, :120] = 0  # nodata corner
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=3, dtype="uint8", nodata=0,
                       crs="EPSG:32633", transform=from_origin(500000.0, 4000000.0, 10.0, 10.0)) as dst:
        dst.write(pixels)
    return pixels


def test_tiled_scene_scores_match_the_logits_and_are_a_cog(tmp_path):
    pixels = scene(tmp_path / "s.tif")
    prep = lambda hwc: hwc.astype(np.float32) / 64.0 - 2.0  # noqa: E731 - pixel-wise preprocessing
    tiling = Tiling(256, 48)
    predict_scene(pixel_logits, prep, str(tmp_path / "s.tif"), str(tmp_path / "plain.tif"), K, tiling,
                  progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.tif", "s.tif"]  # no score unless asked
    predict_scene(pixel_logits, prep, str(tmp_path / "s.tif"), str(tmp_path / "lab.tif"), K, tiling,
                  progress=False, scores_dst=str(score_path(tmp_path / "lab.tif")))
    with rasterio.open(tmp_path / "lab.tif") as lab, rasterio.open(tmp_path / "plain.tif") as plain, \
            rasterio.open(tmp_path / "lab_score.tif") as sc:
        labels, score = lab.read(1), sc.read(1)
        np.testing.assert_array_equal(labels, plain.read(1))  # the labels do not change with scores
        assert (sc.shape, sc.transform, sc.crs) == (lab.shape, lab.transform, lab.crs) and sc.dtypes[0] == "uint8"
        assert sc.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and sc.block_shapes == [(512, 512)]
        assert sc.compression.name.lower() == "deflate" and sc.overviews(1) == [2]
        assert sc.nodata == 0 and sc.colorinterp[0] != rasterio.enums.ColorInterp.palette
    logits = pixel_logits(prep(pixels.transpose(1, 2, 0))[None].transpose(0, 3, 1, 2))[0]
    nodata = (pixels == 0).any(axis=0)
    assert (score[nodata] == 0).all() and (labels[nodata] == 255).all()
    assert np.abs(score[~nodata].astype(int) - reference(logits)[~nodata]).max() <= 1
    np.testing.assert_array_equal(labels[~nodata], np.argmax(logits, axis=0)[~nodata])


def test_predict_array_scores():
    chw = np.random.default_rng(4).normal(0, 1, (3, 300, 200)).astype(np.float32)
    labels, score = predict_array(pixel_logits, chw, K, Tiling(128, 32), scores=True)
    logits = pixel_logits(chw[None])[0]
    np.testing.assert_array_equal(labels, np.argmax(logits, axis=0))
    assert np.abs(score.astype(int) - reference(logits)).max() <= 1


def test_predict_save_scores(tmp_path, registered):
    """predict.py --save_scores, tiled and whole: NAME_score.tif beside each label GeoTIFF, equal to the
    model's logits' max softmax; not written without the flag; the option is part of the resume key (a run
    with it after one without redoes the files), and vectorize.py leaves score rasters out."""
    from paddle_segformer.cli.predict import run
    from paddle_segformer.integration.config import load_config
    from paddle_segformer.vector.pipeline import label_rasters

    root = _dataset(tmp_path, 4, "uint16", nodata=0, n=2, size=96)
    cfg = _config(tmp_path, root, 4)
    _, builder = load_config(str(cfg))
    paddle.seed(0)
    paddle.save(builder.model.state_dict(), str(tmp_path / "m.pdparams"))
    common = ["--config", str(cfg), "--model_path", str(tmp_path / "m.pdparams"), "--backend", "paddle",
              "--image_path", str(root / "img")]
    for name, extra in (("tiled", ["--tile", "64", "--overlap", "16"]), ("whole", ["--tile", "0"])):
        out = tmp_path / name
        first = run(common + ["--save_dir", str(out)] + extra)
        assert not first.failed and not list((out / "geotiff").glob("*_score.tif"))
        second = run(common + ["--save_dir", str(out), "--save_scores"] + extra)
        assert not second.failed and not second.skipped  # another key: redone, not skipped
        for lab in sorted((out / "geotiff").glob("T*[0-9].tif")):
            with rasterio.open(lab) as src, rasterio.open(score_path(lab)) as sc:
                labels, score = src.read(1), sc.read(1)
                assert (sc.transform, sc.crs, sc.shape) == (src.transform, src.crs, src.shape)
                assert sc.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ((labels == 255) == (score == 0)).all() and score[labels != 255].min() >= 255 // 4
        assert label_rasters(out) == sorted((out / "geotiff").glob("T*[0-9].tif"))
        assert run(common + ["--save_dir", str(out), "--save_scores"] + extra).skipped  # same key: resumed
    whole = tmp_path / "whole" / "geotiff"
    lab = sorted(whole.glob("T*[0-9].tif"))[0]
    _check_against_model(builder, cfg, tmp_path / "m.pdparams", root / "img" / (lab.stem + ".tif"), lab)


def _check_against_model(builder, cfg, weights, image, lab):
    """score == round(255 * max softmax) of the dynamic model's logits on the normalised image (within 1)."""
    model = builder.model
    model.set_dict(paddle.load(str(weights)))
    model.eval()
    with rasterio.open(image) as src:
        pixels = src.read().astype(np.float32)
        nodata = (src.read() == src.nodata).any(axis=0)
    mean, std = 4000.0, 1500.0
    x = (pixels - mean) / std
    x[:, nodata] = 0.0  # nodata pixels take the normaliser's zero point, as predict.py does
    with paddle.no_grad():
        logits = model(paddle.to_tensor(x[None]))[0].numpy()[0]
    with rasterio.open(score_path(lab)) as sc:
        score = sc.read(1)
    assert np.abs(score[~nodata].astype(int) - reference(logits)[~nodata]).max() <= 1
    assert (score[nodata] == 0).all()


def test_save_scores_for_ordinary_images(tiny_config, random_checkpoint, tiny_data, tmp_path, registered):
    """JPG inputs through the default runtime (labels by the compiled kernel): score/NAME.png, the max
    softmax of the upsampled logits that the label PNG is the argmax of; none without the flag."""
    from PIL import Image

    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.cli.predict import run
    from paddle_segformer.inference.options import InferenceOptions
    from paddle_segformer.integration.config import load_config

    images = tiny_data / "img_testA"
    common = ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path", str(images)]
    assert not run(common + ["--save_dir", str(tmp_path / "plain")]).failed
    assert not (tmp_path / "plain" / "score").exists()
    assert not run(common + ["--save_dir", str(tmp_path / "out"), "--save_scores"]).failed
    _, builder = load_config(str(tiny_config))
    _, predictor = build_predictor(builder, str(tiny_config), str(random_checkpoint), InferenceOptions(), "cpu")
    assert predictor.backend is not None  # the kernel path, not Paddle's dynamic graph
    for path in sorted(images.glob("*.jpg")):
        loaded = predictor.load(path)
        logits = predictor.logits(loaded.chw[None])[0]
        score = np.asarray(Image.open(tmp_path / "out" / "score" / (path.stem + ".png")))
        label = np.asarray(Image.open(tmp_path / "out" / "label" / (path.stem + ".png")))
        assert score.shape == label.shape == logits.shape[1:]
        assert np.abs(score.astype(int) - reference(logits)).max() <= 1
        plain = np.asarray(Image.open(tmp_path / "plain" / "label" / (path.stem + ".png")))
        np.testing.assert_array_equal(label, plain)  # the labels do not change with scores


def test_save_scores_with_test_time_augmentation_is_one_error_line(tiny_config, random_checkpoint, tiny_data,
                                                                     tmp_path, capsys):
    from paddle_segformer.cli.predict import main
    from paddle_segformer.cli.runtime import run_cli

    out = tmp_path / "out"
    assert run_cli(main, ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path",
                          str(tiny_data / "img_testA"), "--save_dir", str(out), "--save_scores", "--aug_pred",
                          "--flip_horizontal"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "--save_scores needs plain prediction" in err[0]
    assert not (out / "label").exists()  # refused before any file
