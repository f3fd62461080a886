"""Broken images (cut short, empty, not an image) and 16-bit images: refused by name in the data check,
in predict (counted as failed, exit 3, the others written) and in val; never decoded as if whole or
normalised as if 8-bit."""
import logging
import re
import shutil

import cv2
import numpy as np
import pytest

from paddle_segformer.data.check import DataCheckError, check_pairs
from paddle_segformer.data.dataset import RSParcelDataset, SegListDataset
from paddle_segformer.data.transforms import BandNormalize
from paddle_segformer.io.image import ImageReadError, read_image, read_label

from .conftest import write_config

# name -> (bytes of the broken file made from a good JPEG / PNG, what the error says)
BROKEN = {
    "half_jpeg.jpg": (lambda jpg, png: jpg[: len(jpg) // 2], r"truncated JPEG: the file ends after \d+ bytes"),
    "no_eoi.jpg": (lambda jpg, png: jpg[:-2], r"truncated JPEG: the file ends after \d+ bytes"),
    "half_png.png": (lambda jpg, png: png[: len(png) // 2], r"truncated PNG: the file ends after \d+ bytes"),
    "no_iend.png": (lambda jpg, png: png[:-12], r"truncated PNG: the file ends after \d+ bytes"),
    "empty.jpg": (lambda jpg, png: b"", r"file is empty"),
    "text.jpg": (lambda jpg, png: b"just some text\n",
                 r"not a readable image: not a JPEG, PNG, BMP or TIFF file \(it starts with b'just"),
}


def _tile(seed=0, size=64):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 0)


def _good_bytes():
    tile = _tile()
    return cv2.imencode(".jpg", tile)[1].tobytes(), cv2.imencode(".png", tile)[1].tobytes()


def _write_broken(folder, name):
    make, pattern = BROKEN[name]
    (folder / name).write_bytes(make(*_good_bytes()))
    return folder / name, pattern


def _list_dataset(root, image, transforms=None, check=True, mode="train", cls=RSParcelDataset):
    from paddleseg.transforms import Normalize

    cv2.imwrite(str(root / "label.png"), np.zeros((64, 64), np.uint8))
    (root / "list.txt").write_text(f"{image} label.png\n", encoding="utf-8")
    kwargs = {f"{mode}_path": str(root / "list.txt")}
    if cls is SegListDataset:
        kwargs.update(num_classes=4, img_channels=3)
    return cls(mode, str(root), transforms or [Normalize()], check=check, **kwargs)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_data_check_and_the_loader_refuse_a_broken_image_by_name(tmp_path, name):
    path, pattern = _write_broken(tmp_path, name)
    with pytest.raises(DataCheckError, match=re.escape(str(path)) + ": " + pattern):
        check_pairs([(str(path), None)], 4, 3, progress=False, use_cache=False)
    for mode in ("train", "val"):  # val.py reads its samples through the same dataset
        with pytest.raises(DataCheckError, match=r"1 of 1 image/label pair\(s\) failed(.|\n)*" + pattern):
            _list_dataset(tmp_path, name, mode=mode)
        with pytest.raises(ImageReadError, match=re.escape(name) + ": " + pattern):
            _list_dataset(tmp_path, name, mode=mode, check=False)[0]


def test_a_label_cut_short_is_refused(tmp_path):
    png = cv2.imencode(".png", np.zeros((64, 64), np.uint8))[1].tobytes()
    (tmp_path / "cut_label.png").write_bytes(png[:-12])  # pixels whole, IEND gone: Pillow alone reads it
    with pytest.raises(ImageReadError, match=r"cut_label\.png: truncated PNG"):
        read_label(tmp_path / "cut_label.png")


def test_whole_files_of_every_kind_pass_and_a_thumbnail_eoi_does_not_hide_a_cut(tmp_path):
    from PIL import Image

    from paddle_segformer.io.integrity import check_complete

    picture = Image.fromarray(_tile(1, 96))
    variants = {"progressive": dict(progressive=True), "grey": dict(), "plain": dict(quality=80)}
    for name, kwargs in variants.items():
        (picture.convert("L") if name == "grey" else picture).save(tmp_path / f"{name}.jpg", **kwargs)
    cv2.imwrite(str(tmp_path / "restart.jpg"), _tile(2), [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
    for path in sorted(tmp_path.glob("*.jpg")):
        data = path.read_bytes()
        assert check_complete(str(path), data) == "jpeg"
        assert check_complete(str(path), data + b"\x00trailing") == "jpeg"  # bytes after EOI are ignored
        with pytest.raises(ImageReadError, match="truncated JPEG"):
            check_complete(str(path), data[: len(data) * 2 // 3])
    data = (tmp_path / "plain.jpg").read_bytes()
    app1 = b"Exif\x00\x00" + b"\xff\xd8\xff\xd9" * 4  # an embedded thumbnail's own SOI / EOI
    with_thumb = data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]
    assert check_complete("thumb.jpg", with_thumb) == "jpeg"
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        check_complete("thumb.jpg", with_thumb[: len(with_thumb) // 2])
    np.testing.assert_array_equal(read_image(tmp_path / "plain.jpg"), np.asarray(Image.open(tmp_path / "plain.jpg")))


def _write_16bit(path, high=4000):
    rng = np.random.default_rng(0)
    img = rng.integers(0, high, (64, 64, 3), dtype=np.uint16)
    cv2.imwrite(str(path), img[:, :, ::-1])  # OpenCV writes BGR
    return img


@pytest.mark.parametrize("cls", [RSParcelDataset, SegListDataset])
def test_a_16bit_png_is_not_normalised_as_if_8bit(tmp_path, cls):
    img = _write_16bit(tmp_path / "deep.png")
    for mode in ("train", "val"):
        where = rf"deep\.png: uint16 pixels \(not 8-bit\) .*{mode}_dataset\.transforms: transform Normalize"
        with pytest.raises(DataCheckError, match=where):
            _list_dataset(tmp_path, "deep.png", mode=mode, cls=cls)
        with pytest.raises(ImageReadError, match=where):
            _list_dataset(tmp_path, "deep.png", mode=mode, cls=cls, check=False)[0]
    normalise = BandNormalize(mode="minmax", min=[0] * 3, max=[4095] * 3)
    sample = _list_dataset(tmp_path, "deep.png", [normalise], mode="val", cls=cls)[0]
    np.testing.assert_allclose(sample["img"], img.transpose(2, 0, 1) / 4095, rtol=1e-6)  # read at its depth


def test_predict_counts_each_broken_file_and_writes_the_others(tiny_config, random_checkpoint, tiny_data, tmp_path,
                                                               caplog, registered):
    from paddle_segformer.cli.predict import main
    from paddle_segformer.cli.runtime import run_cli

    caplog.set_level(logging.INFO)
    folder = tmp_path / "images"
    folder.mkdir()
    good = sorted((tiny_data / "img_testA").glob("*.jpg"))[:2]
    for i, path in enumerate(good):
        shutil.copy(path, folder / f"good{i}.jpg")
    patterns = dict(_write_broken(folder, name) for name in BROKEN)
    _write_16bit(folder / "deep.png")  # the tiny config normalises with PaddleSeg's Normalize (/ 255)
    patterns[folder / "deep.png"] = r"uint16 pixels \(not 8-bit\) .*val_dataset\.transforms: transform Normalize"
    out = tmp_path / "out"
    args = ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path", str(folder),
            "--save_dir", str(out), "--backend", "paddle"]
    assert run_cli(main, args) == 3
    for i in range(len(good)):
        assert (out / "label" / f"good{i}.png").is_file() and (out / "overlay" / f"good{i}.jpg").is_file()
    assert sorted(p.name for p in (out / "label").iterdir()) == [f"good{i}.png" for i in range(len(good))]
    assert f"predicted {len(good)} image(s), {len(patterns)} failed" in caplog.text
    for path, pattern in patterns.items():
        assert re.search(re.escape(f"FAILED {path}: ") + ".*" + pattern, caplog.text), (path, caplog.text[-3000:])


@pytest.fixture()
def data_copy(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def _cut_listed_image(root, list_name, line=0):
    """Cut the image on ``line`` of the list in half; return its path."""
    image = root / (root / list_name).read_text(encoding="utf-8").splitlines()[line].split(" ")[0]
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    return image


def test_val_refuses_a_cut_image_by_name(data_copy, random_checkpoint, tmp_path, capsys, registered):
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.val import main

    image = _cut_listed_image(data_copy, "val.txt")
    cfg = write_config(tmp_path / "cut.yml", data_copy)
    args = ["--config", str(cfg), "--model_path", str(random_checkpoint), "--backend", "paddle",
            "--save_dir", str(tmp_path / "out")]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err
    assert re.search(re.escape(f"{image}: truncated JPEG: the file ends after"), err), err[-2000:]
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_training_stops_before_it_starts_on_a_cut_image(data_copy, tmp_path, capsys):
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.train import main

    image = _cut_listed_image(data_copy, "train.txt", line=1)
    cfg = write_config(tmp_path / "cut.yml", data_copy, {"batch_size": 1})
    assert run_cli(main, ["--config", str(cfg), "--iters", "4", "--save_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(re.escape(f"  {image}: truncated JPEG: the file ends after"), err), err[-2000:]
    assert not (tmp_path / "out").exists()  # no training step, no checkpoint folder
