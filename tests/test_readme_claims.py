"""README claims that had no test of their own: test-time options, band normalisation, config and raster
errors, nodata, tiling limits, export outputs, thread defaults, colours and nodata labels of the outputs."""
import numpy as np
import pytest
import yaml
from PIL import Image

from paddle_segformer.inference.options import InferenceOptions, RuntimeOptions, TilingOptions

from .conftest import CONFIGS, write_config

RGBN = CONFIGS / "geotiff" / "segformer_b0_rgbn.yml"


def _spy_infer(monkeypatch):
    """Record the options every call of PaddleSeg's ``infer.inference`` / ``aug_inference`` gets (and run it)."""
    from paddleseg.core import infer

    calls = []
    for name in ("inference", "aug_inference"):
        def spy(*args, _real=getattr(infer, name), _name=name, **kwargs):
            calls.append((_name, {k: v for k, v in kwargs.items() if k != "trans_info"}))
            return _real(*args, **kwargs)

        monkeypatch.setattr(infer, name, spy)
    return calls


def _options(calls):
    """(name, options) of the outermost call (``aug_inference`` calls ``inference`` per scale and flip),
    the same for every image."""
    outer = "aug_inference" if any(name == "aug_inference" for name, _ in calls) else "inference"
    kept = [kwargs for name, kwargs in calls if name == outer]
    assert all(kwargs == kept[0] for kwargs in kept)
    return outer, kept[0]


def test_test_config_is_the_default_and_flags_override(tiny_data, random_checkpoint, tmp_path, monkeypatch,
                                                       registered):
    """README: the config's ``test_config`` (sliding window, flips, scales) applies; flags override it."""
    from paddle_segformer.cli.predict import predict
    from paddle_segformer.cli.val import evaluate

    slide = {"is_slide": True, "crop_size": [48, 48], "stride": [16, 16]}
    cfg = write_config(tmp_path / "slide.yml", tiny_data, {"test_config": slide})
    images = str(tiny_data / "img_testA")
    calls = _spy_infer(monkeypatch)
    summary = predict(str(cfg), str(random_checkpoint), images, str(tmp_path / "p1"))
    assert len(summary.written) == 3 and len(calls) == 3
    name, kwargs = _options(calls)
    assert name == "inference" and kwargs["is_slide"] and tuple(kwargs["crop_size"]) == (48, 48)
    assert tuple(kwargs["stride"]) == (16, 16)
    calls.clear()
    predict(str(cfg), str(random_checkpoint), images, str(tmp_path / "p2"), test=InferenceOptions(
        crop_size=(32, 40), aug_eval=True, scales=(0.75, 1.0), flip_horizontal=True))  # flags over the config
    name, kwargs = _options(calls)
    assert name == "aug_inference" and kwargs["is_slide"] and tuple(kwargs["crop_size"]) == (32, 40)
    assert list(kwargs["scales"]) == [0.75, 1.0] and kwargs["flip_horizontal"] and not kwargs["flip_vertical"]
    calls.clear()
    flips = write_config(tmp_path / "flips.yml", tiny_data, {"test_config": {
        "aug_eval": True, "scales": [1.0, 1.25], "flip_vertical": True}})
    result = evaluate(str(flips), str(random_checkpoint))
    assert 0 <= result["miou"] <= 1 and calls
    name, kwargs = _options(calls)
    assert name == "aug_inference" and list(kwargs["scales"]) == [1.0, 1.25] and kwargs["flip_vertical"]
    assert not kwargs["is_slide"] and not kwargs["flip_horizontal"]
    calls.clear()
    evaluate(str(flips), str(random_checkpoint), test=InferenceOptions(is_slide=True, crop_size=(48, 48),
                                                                        stride=(32, 32)))
    name, kwargs = _options(calls)
    assert name == "aug_inference" and kwargs["is_slide"] and tuple(kwargs["stride"]) == (32, 32)


@pytest.mark.parametrize("mode", ["minmax", "percentile"])
def test_band_normalize_modes(mode):
    """README: ``BandNormalize`` ``minmax`` ((x - min) / (max - min)) and ``percentile`` (clipped to the
    per-band low / high values, then scaled to 0..1), each band with its own statistics."""
    from paddle_segformer.data.transforms import BandNormalize

    low, high = np.array([100.0, 0.0, 1000.0]), np.array([300.0, 50.0, 5000.0])
    keys = ("min", "max") if mode == "minmax" else ("low", "high")
    norm = BandNormalize(mode, **{keys[0]: low.tolist(), keys[1]: high.tolist()})
    img = np.array([[[100, 0, 1000], [300, 50, 5000]], [[200, 25, 3000], [500, 100, 0]]], np.uint16)
    out = norm({"img": img})["img"]
    assert out.dtype == np.float32 and out.shape == img.shape
    expected = (img.astype(np.float64) - low) / (high - low)
    np.testing.assert_allclose(out[0], expected[0], atol=1e-6)  # inside the range: the same in both modes
    np.testing.assert_allclose(out[1, 0], [0.5, 0.5, 0.5], atol=1e-6)
    if mode == "minmax":  # no clipping
        np.testing.assert_allclose(out[1, 1], [2.0, 2.0, -0.25], atol=1e-6)
    else:
        np.testing.assert_allclose(out[1, 1], [1.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(norm.fill_values(), low)  # nodata's raw values: normalise to 0
    with pytest.raises(ValueError, match=f"mode {mode} needs {keys[0]} and {keys[1]}"):
        BandNormalize(mode, **{keys[0]: low.tolist()})


def test_config_that_is_not_valid_yaml(tmp_path, capsys, registered):
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.val import main
    from paddle_segformer.integration.config import ConfigError, load_config

    bad = tmp_path / "broken.yml"
    bad.write_text("model:\n  type: SegFormer\n  backbone: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yml: invalid config"):
        load_config(str(bad))
    assert run_cli(main, ["--config", str(bad), "--model_path", str(tmp_path / "m.pdparams")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.yml: invalid config" in errors[0]


def _raster_task(tmp_path, ignore_index=255, n=3, nodata=0):
    """A 4-band uint16 GeoTIFF task (the example config's) and a random checkpoint for it."""
    import paddle

    from paddle_segformer.data.split import split_dataset
    from paddle_segformer.data.synthetic_raster import write_raster_dataset
    from paddle_segformer.integration.config import load_config

    root = tmp_path / "rgbn"
    write_raster_dataset(str(root), n=n, size=64, bands=4, dtype="uint16", nodata=nodata)
    split_dataset((0.67, 0.33, 0.0), str(root / "img"), str(root / "lab"), seed=0)
    norm = {"type": "BandNormalize", "mode": "meanstd", "mean": [4000.0] * 4, "std": [1500.0] * 4}
    cfg = write_config(tmp_path / "rgbn.yml", root, {
        "train_dataset": {"img_channels": 4, "ignore_index": ignore_index, "transforms": [norm]},
        "val_dataset": {"transforms": [norm]}}, base=str(RGBN))
    paddle.seed(0)
    _, builder = load_config(str(cfg))
    paddle.save(builder.model.state_dict(), str(tmp_path / "m.pdparams"))
    return root, cfg, tmp_path / "m.pdparams"


def test_label_whose_transform_differs_from_its_image(tmp_path, registered):
    """README: every pair is checked when the dataset is built, the label's transform against the image's."""
    import rasterio
    from rasterio.transform import Affine

    from paddle_segformer.integration.config import load_config

    root, cfg, _ = _raster_task(tmp_path)
    label = root / (root / "train.txt").read_text().splitlines()[0].split(" ")[1]
    with rasterio.open(label) as src:
        profile, data = src.profile, src.read()
    profile.update(transform=profile["transform"] @ Affine.translation(100, 0))  # 100 px east: other ground
    with rasterio.open(label, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(Exception, match=rf"{label.name}: transform differs from image .*does not cover the same"):
        load_config(str(cfg))[1].train_dataset


@pytest.mark.parametrize("ignore_index", [255, 200])
def test_nodata_in_any_band_is_labelled_with_the_ignore_index(tmp_path, ignore_index, registered):
    """README: a pixel is nodata when any band holds the nodata value; it is given the normaliser's zero
    point and the prediction labels it with the config's ignore index (the GeoTIFF's nodata value)."""
    import rasterio

    from paddle_segformer.cli.predict import predict
    from paddle_segformer.io.raster import read_model_input

    root, cfg, ckpt = _raster_task(tmp_path, ignore_index)
    src = root / "img" / "T0001.tif"
    with rasterio.open(src, "r+") as raster:  # one band only: band 3 of row 50, columns 40..59
        band = raster.read(3)
        band[50, 40:60] = 0
        raster.write(band, 3)
    image, model_input, mask, _ = read_model_input(src, 4, np.array([4000.0] * 4, np.float32))
    lone = np.zeros((64, 64), bool)
    lone[50, 40:60] = True
    assert mask[lone].all() and (image[lone][:, [0, 1, 3]] != 0).all()  # the other bands hold data there
    np.testing.assert_array_equal(model_input[lone], 4000.0)  # every band of the pixel: the zero point
    summary = predict(str(cfg), str(ckpt), str(src), str(tmp_path / "out"),
                      tiling=TilingOptions(tile=0), runtime=RuntimeOptions(backend="paddle"))
    assert not summary.failed
    with rasterio.open(tmp_path / "out" / "geotiff" / "T0001.tif") as out:
        labels, nodata = out.read(1), out.nodata
    assert nodata == ignore_index
    assert (labels[mask] == ignore_index).all() and labels[~mask].max() < 4
    png = np.asarray(Image.open(tmp_path / "out" / "label" / "T0001.png"))
    np.testing.assert_array_equal(png, labels)


def test_colours_are_the_datasets_not_every_four_class_tasks(tiny_config, tiny_data, random_checkpoint, tmp_path,
                                                           registered):
    """The parcel colours belong to RSParcelDataset; another 4-class task gets the generic palette."""
    from paddle_segformer.cli.predict import predict
    from paddle_segformer.data.dataset import PARCEL_COLOURS

    parcel = [c for colour in PARCEL_COLOURS for c in colour]
    image = sorted((tiny_data / "img_testA").glob("*.jpg"))[0]
    predict(str(tiny_config), str(random_checkpoint), str(image), str(tmp_path / "parcel"),
            runtime=RuntimeOptions(backend="paddle"))
    assert Image.open(tmp_path / "parcel" / "label" / (image.stem + ".png")).getpalette()[:12] == parcel
    root, cfg, ckpt = _raster_task(tmp_path)
    predict(str(cfg), str(ckpt), str(root / "img" / "T0000.tif"), str(tmp_path / "rgbn"),
            tiling=TilingOptions(tile=0), runtime=RuntimeOptions(backend="paddle"))
    assert Image.open(tmp_path / "rgbn" / "label" / "T0000.png").getpalette()[:12] != parcel


def test_tiling_refused_with_test_time_augmentation(tmp_path, registered):
    """README: tiling does not combine with test-time augmentation or is_slide."""
    from paddle_segformer.cli.predict import predict

    root, cfg, ckpt = _raster_task(tmp_path, n=1)
    for test in (InferenceOptions(aug_eval=True, flip_horizontal=True),
                 InferenceOptions(is_slide=True, crop_size=(32, 32), stride=(16, 16))):
        with pytest.raises(ValueError, match="tiled scene prediction does not combine with test-time augmentation"):
            predict(str(cfg), str(ckpt), str(root / "img"), str(tmp_path / "out"),
                    tiling=TilingOptions(tile=32, overlap=8), test=test)
        assert not (tmp_path / "out" / "geotiff").exists()


@pytest.mark.slow  # two exports: ~15 s
@pytest.mark.parametrize("output_op", ["softmax", "none"])
def test_export_output_op_and_dynamic_batch(tiny_config, random_checkpoint, tmp_path, output_op, registered):
    """README: ``export.py --output_op softmax / none``, with dynamic batch, height and width."""
    import paddle

    from paddle_segformer.cli.export import export_model
    from paddle_segformer.cli.inference import load_model_weights
    from paddle_segformer.inference.static import StaticPredictor
    from paddle_segformer.integration.config import load_config

    out = export_model(str(tiny_config), str(random_checkpoint), str(tmp_path / "static"), output_op=output_op)
    assert yaml.safe_load((tmp_path / "static" / "deploy.yaml").read_text())["Deploy"]["output_op"] == output_op
    static = StaticPredictor(out, threads=2)
    _, builder = load_config(str(tiny_config))
    model = builder.model
    load_model_weights(model, str(random_checkpoint))
    model.eval()
    rng = np.random.default_rng(0)
    for shape in ((2, 3, 64, 64), (3, 3, 40, 72)):  # batch 2 then 3, another size
        x = rng.standard_normal(shape).astype("float32")
        with paddle.no_grad():
            logits = model(paddle.to_tensor(x))[0]
            expected = (paddle.nn.functional.softmax(logits, axis=1) if output_op == "softmax" else logits).numpy()
        got = static.run(x)
        assert got.shape == (shape[0], 4) + shape[2:]
        np.testing.assert_allclose(got, expected, atol=1e-4)
        if output_op == "softmax":
            np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_thread_defaults(monkeypatch):
    """README: OMP_NUM_THREADS defaults to the core count divided among local processes, MKL_DEBUG_CPU_TYPE=5
    on AMD CPUs; values set by the user win."""
    from paddle_segformer import machine

    for name in ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE", "PADDLE_LOCAL_SIZE", "PADDLE_TRAINERS_NUM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(machine, "_is_amd_cpu", lambda: True)
    machine.prepare_env(import_paddle=False)
    assert machine.os.environ["OMP_NUM_THREADS"] == "8" and machine.os.environ["MKL_DEBUG_CPU_TYPE"] == "5"
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("MKL_DEBUG_CPU_TYPE")
    monkeypatch.setenv("PADDLE_LOCAL_SIZE", "2")  # two processes under paddle.distributed.launch
    monkeypatch.setattr(machine, "_is_amd_cpu", lambda: False)
    machine.prepare_env(import_paddle=False)
    assert machine.os.environ["OMP_NUM_THREADS"] == "4" and "MKL_DEBUG_CPU_TYPE" not in machine.os.environ
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "4")
    monkeypatch.setattr(machine, "_is_amd_cpu", lambda: True)
    machine.prepare_env(import_paddle=False)
    assert machine.os.environ["OMP_NUM_THREADS"] == "1" and machine.os.environ["MKL_DEBUG_CPU_TYPE"] == "4"


def test_hf_export_takes_dropouts_and_ignore_index_from_the_config(tmp_path, registered):
    """The exported Hugging Face config.json records the training config's dropouts and ignore index."""
    import json

    from paddle_segformer.integration.config import training_settings
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer
    from paddle_segformer.weights.convert import DEFAULT_TRAINING, to_hf

    _, cfg, ckpt = _raster_task(tmp_path, ignore_index=200, n=1)
    text = yaml.safe_load(cfg.read_text())
    text["model"] = {"backbone": {"drop_path_rate": 0.3}}
    cfg.write_text(yaml.safe_dump(text), encoding="utf-8")
    settings = training_settings(str(cfg))
    assert settings["semantic_loss_ignore_index"] == 200 and settings["drop_path_rate"] == pytest.approx(0.3)
    state = SegFormer(4, mit("b0", in_channels=4)).state_dict()
    out, _ = to_hf(state, str(tmp_path / "hf"), training=settings)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["semantic_loss_ignore_index"] == 200 and config["drop_path_rate"] == pytest.approx(0.3)
    assert config["classifier_dropout_prob"] == pytest.approx(0.1)
    to_hf(state, str(tmp_path / "plain"))
    plain = json.loads((tmp_path / "plain" / "config.json").read_text())
    assert {k: plain[k] for k in DEFAULT_TRAINING} == DEFAULT_TRAINING



def test_relative_list_path_is_looked_up_inside_dataset_root(tmp_path, monkeypatch):
    """README: a relative ``train_path`` / ``val_path`` that does not exist from the working directory is
    looked up inside ``dataset_root``."""
    from paddle_segformer.data.dataset import find_list_file

    root = tmp_path / "data"
    root.mkdir()
    (root / "train.txt").write_text("a.jpg a.png\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert find_list_file("train.txt", str(root)) == str(root / "train.txt")
    (tmp_path / "train.txt").write_text("b.jpg b.png\n", encoding="utf-8")
    assert find_list_file("train.txt", str(root)) == "train.txt"  # from the working directory first
    with pytest.raises(FileNotFoundError, match=r"list file not found: val\.txt \(also looked in .*data\)"):
        find_list_file("val.txt", str(root))
