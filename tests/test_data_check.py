"""The up-front data check: every bad pair named, on threads, remembered once passed."""
import os

import cv2
import numpy as np
import pytest

from paddle_segformer.data import check
from paddle_segformer.data.check import SHOWN, DataCheckError, check_pairs


def _pairs(root, count, bad=()):
    """``count`` 16x16 pairs with labels 0..3; labels of the indices in ``bad`` hold a 9."""
    pairs = []
    for i in range(count):
        image, label = root / f"t{i}.jpg", root / f"t{i}.png"
        cv2.imwrite(str(image), np.full((16, 16, 3), 100, np.uint8))
        lab = np.zeros((16, 16), np.uint8)
        lab[:4] = 1
        lab[0, 0] = 9 if i in bad else 255
        cv2.imwrite(str(label), lab)
        pairs.append((str(image), str(label)))
    return pairs


def test_every_bad_pair_is_counted_and_the_first_ones_named(tmp_path):
    bad = set(range(3, 3 + SHOWN + 5))
    pairs = _pairs(tmp_path, 40, bad)
    os.remove(pairs[0][0])  # a missing image is reported like the others
    with pytest.raises(DataCheckError) as info:
        check_pairs(pairs, 4, 3, workers=2, progress=False)
    message = str(info.value)
    assert message.startswith(f"{len(bad) + 1} of 40 image/label pair(s) failed the data check")
    lines = message.splitlines()[1:]
    assert len(lines) == SHOWN + 1 and lines[-1] == f"  ... and {len(bad) + 1 - SHOWN} more"
    assert "t0.jpg" in lines[0] and "t3.png: label values [9] are outside 0..3" in lines[1]  # list order


def test_class_frequencies_and_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_SEGFORMER_CACHE", str(tmp_path / "cache"))
    pairs = _pairs(tmp_path, 5)
    summary = check_pairs(pairs, 4, 3, workers=2, progress=False)
    # per tile: 63 pixels of class 1 (rows 0-3 but the ignored corner), 192 of class 0
    assert summary["pairs"] == 5 and summary["ignored_fraction"] == pytest.approx(1 / 256)
    np.testing.assert_allclose(summary["class_fraction"], [192 / 256, 63 / 256, 0, 0])

    def no_reading(*args):
        raise AssertionError("an unchanged list that passed must not be read again")

    monkeypatch.setattr(check, "check_pair", no_reading)
    assert check_pairs(pairs, 4, 3, progress=False) == summary
    with pytest.raises(AssertionError, match="must not be read"):  # another class count: checked anew
        check_pairs(pairs, 5, 3, progress=False)
    monkeypatch.undo()
    monkeypatch.setenv("PADDLE_SEGFORMER_CACHE", str(tmp_path / "cache"))
    lab = cv2.imread(pairs[2][1], cv2.IMREAD_UNCHANGED)
    lab[1, 1] = 7
    cv2.imwrite(pairs[2][1], lab)
    os.utime(pairs[2][1], ns=(1, 1))  # a changed file (size or time) is checked again
    with pytest.raises(DataCheckError, match=r"t2\.png: label values \[7\]"):
        check_pairs(pairs, 4, 3, progress=False)


def test_skip_data_check_reaches_our_datasets_only():
    import paddle_segformer
    from paddle_segformer.cli.data_paths import skip_data_check

    paddle_segformer.register()
    dic = {"train_dataset": {"type": "RSParcelDataset"}, "val_dataset": {"type": "Dataset"}}
    skip_data_check(dic, ["train_dataset", "val_dataset"])
    assert dic == {"train_dataset": {"type": "RSParcelDataset", "check": False}, "val_dataset": {"type": "Dataset"}}


def test_jpeg_check_agrees_with_the_loader(tmp_path):
    from paddle_segformer.data.check import _meta
    from paddle_segformer.io.image import ImageReadError, read_image

    rng = np.random.default_rng(0)
    for name, shape in (("rgb.jpg", (30, 50, 3)), ("grey.jpg", (30, 50))):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 256, shape, dtype=np.uint8))
        meta, img = _meta(str(tmp_path / name)), read_image(tmp_path / name)
        assert (meta.height, meta.width, meta.count, meta.dtype) == (*img.shape, str(img.dtype))
    data = (tmp_path / "rgb.jpg").read_bytes()
    (tmp_path / "bad.jpg").write_bytes(data[:2] + bytes(len(data) - 2))  # the marker, then nothing usable
    with pytest.raises(ImageReadError, match=r"bad\.jpg: not a readable image"):
        _meta(str(tmp_path / "bad.jpg"))
    with pytest.raises(ImageReadError, match=r"bad\.jpg: not a readable image"):
        read_image(tmp_path / "bad.jpg")


def test_worker_processes_give_the_in_process_result(tmp_path, monkeypatch):
    pairs = _pairs(tmp_path, 12, bad={2, 9})
    monkeypatch.setattr(check, "CHUNK", 5)
    inline = check._run(pairs, check.LabelSpec(4, 3), progress=False, workers=1)
    monkeypatch.setattr(check, "PROCESS_MIN", 0)  # a short list through the worker processes
    pooled = check._run(pairs, check.LabelSpec(4, 3), progress=False, workers=2)
    np.testing.assert_array_equal(pooled[0], inline[0])
    assert pooled[1] == inline[1] and len(pooled[1]) == 2 and "t2.png" in pooled[1][0]
