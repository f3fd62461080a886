"""Folder prediction writes the right files with the right values; export + Paddle Inference = dynamic."""
import shutil

import cv2
import numpy as np
import paddle
import pytest
from PIL import Image

from paddle_segformer.cli.export import export_model
from paddle_segformer.cli.inference import load_model_weights
from paddle_segformer.cli.predict import predict
from paddle_segformer.cli.val import evaluate
from paddle_segformer.inference.predictor import Predictor
from paddle_segformer.inference.static import StaticPredictor
from paddle_segformer.integration.config import load_config
from paddle_segformer.io.image import read_image


@pytest.fixture(scope="module")
def image_tree(tiny_data, tmp_path_factory):
    """Nested folder: jpg, png, tif, plus one corrupt jpg."""
    root = tmp_path_factory.mktemp("images")
    (root / "sub").mkdir()
    tiles = sorted((tiny_data / "img_testA").glob("*.jpg"))
    shutil.copy(tiles[0], root / "a.jpg")
    shutil.copy(tiles[2], root / "a.png")  # same stem as a.jpg: must be reported, not overwrite it
    img = read_image(tiles[1])
    cv2.imwrite(str(root / "sub" / "b.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    import rasterio

    with rasterio.open(root / "sub" / "c.tif", "w", driver="GTiff", width=64, height=64, count=3,
                       dtype="uint8") as dst:
        dst.write(img.transpose(2, 0, 1))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


def _dynamic(config, checkpoint):
    _, builder = load_config(str(config))
    model = builder.model
    load_model_weights(model, str(checkpoint))
    return Predictor(model, builder.val_transforms)


def _reference_labels(model, path):
    """Independent of the package's reading and transforms: RGB, (x / 255 - 0.5) / 0.5, argmax."""
    if path.suffix == ".tif":
        import rasterio

        with rasterio.open(path) as src:
            rgb = src.read().transpose(1, 2, 0)
    else:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    x = (rgb.astype("float32") / 255.0 - 0.5) / 0.5
    with paddle.no_grad():
        logits = model(paddle.to_tensor(x.transpose(2, 0, 1)[None]))[0]
    return paddle.argmax(logits, axis=1).numpy()[0]


def test_predict_folder_outputs(tiny_config, random_checkpoint, image_tree, tmp_path, registered):
    import cv2

    out = tmp_path / "pred"
    threads = cv2.getNumThreads()
    summary = predict(str(tiny_config), str(random_checkpoint), str(image_tree), str(out))
    assert cv2.getNumThreads() == threads  # single-threaded OpenCV during the folder loop only
    assert sorted(p.name for p, _ in summary.failed) == ["a.png", "broken.jpg"]
    assert "would overwrite" in dict((p.name, r) for p, r in summary.failed)["a.png"]
    assert "broken.jpg" in summary.report()
    expected = {"a.png", "sub/b.png", "sub/c.png"}
    for kind, ext in (("label", ".png"), ("pseudo_color", ".png"), ("overlay", ".jpg")):
        written = {p.relative_to(out / kind).with_suffix(".png").as_posix() for p in (out / kind).rglob("*" + ext)}
        assert written == expected and len(list((out / kind).rglob("*.*"))) == len(expected)
    model = _dynamic(tiny_config, random_checkpoint).model
    for rel, src in (("a.png", "a.jpg"), ("sub/b.png", "sub/b.png"), ("sub/c.png", "sub/c.tif")):
        with Image.open(out / "label" / rel) as im:
            assert im.mode == "P"  # viewable, and pixel values are class ids
            label = np.asarray(im)
        assert label.shape == (64, 64) and label.max() < 4
        np.testing.assert_array_equal(label, _reference_labels(model, image_tree / src))
        with Image.open(out / "pseudo_color" / rel) as im:  # as PaddleSeg's: ids with the colour palette
            assert im.mode == "P" and np.asarray(im.convert("RGB")).shape == (64, 64, 3)
            np.testing.assert_array_equal(np.asarray(im), label)


def test_val_reports_every_metric(tiny_config, random_checkpoint, tmp_path, registered):
    result = evaluate(str(tiny_config), str(random_checkpoint), save_dir=str(tmp_path))
    for key in ("miou", "acc", "kappa", "mdice", "class_iou", "class_precision", "class_recall", "class_dice"):
        assert key in result
    assert len(result["class_iou"]) == 4 and 0 <= result["miou"] <= 1
    assert (tmp_path / "metrics.json").is_file()


def test_export_and_paddle_inference_match_dynamic(tiny_config, random_checkpoint, tiny_data, tmp_path, registered):
    out = export_model(str(tiny_config), str(random_checkpoint), str(tmp_path / "static"))
    assert (tmp_path / "static" / "model.pdiparams").is_file() and (tmp_path / "static" / "deploy.yaml").is_file()
    dynamic = _dynamic(tiny_config, random_checkpoint)
    static = StaticPredictor(out, threads=2)
    for path in sorted((tiny_data / "img_testA").glob("*.jpg"))[:2]:
        img = read_image(path)
        data = dynamic.transforms({"img": img.astype("float32"), "trans_info": []})
        labels = static.run(data["img"][None])
        assert labels.shape == (1, 64, 64)
        np.testing.assert_array_equal(labels[0], dynamic.predict(img))
    # non-square, other size: the exported graph has dynamic height and width
    x = np.random.default_rng(0).standard_normal((1, 3, 48, 80)).astype("float32")
    with paddle.no_grad():
        ref = paddle.argmax(dynamic.model(paddle.to_tensor(x))[0], axis=1).numpy()
    np.testing.assert_array_equal(static.run(x), ref)
