"""Cityscapes data: the labelId -> trainId table against cityscapesscripts, the layout, the dataset, prepare."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paddle_segformer.data import cityscapes_labels as cs
from paddle_segformer.data.cityscapes_layout import find_frames

from .cityscapes_helpers import write_mini_cityscapes


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_mini_cityscapes(tmp_path_factory.mktemp("cityscapes"))


def test_lookup_tables_match_cityscapesscripts():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")  # requirements-dev.txt
    official = {label.id: label for label in labels.labels if label.id >= 0}
    assert sorted(official) == list(range(cs.NUM_LABEL_IDS))
    expected = np.full(256, 255, np.uint8)
    for label_id, label in official.items():
        expected[label_id] = label.trainId if 0 <= label.trainId < 255 else 255
    np.testing.assert_array_equal(cs.LABEL_TO_TRAIN, expected)
    evaluated = sorted((l.trainId, l) for l in official.values() if 0 <= l.trainId < 255)
    assert [l.id for _, l in evaluated] == list(cs.TRAIN_LABEL_IDS)
    assert [l.name for _, l in evaluated] == list(cs.CLASS_NAMES)
    assert [tuple(l.color) for _, l in evaluated] == list(cs.PALETTE)
    assert [t for t, _ in evaluated] == list(range(19))
    # every official ignored-in-evaluation id maps to 255, and back: trainId -> its labelId
    assert all(cs.LABEL_TO_TRAIN[i] == 255 for i, l in official.items() if l.ignoreInEval)
    np.testing.assert_array_equal(cs.TRAIN_TO_LABEL[:19], [l.id for _, l in evaluated])
    colours = cs.label_id_palette()
    assert {i: tuple(colours[i]) for i in official} == {i: tuple(l.color) for i, l in official.items()}


def test_mapping_is_one_vectorised_lookup():
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    train = cs.to_train_ids(ids)
    assert train.dtype == np.uint8 and train.shape == ids.shape
    assert sorted(set(train.ravel().tolist())) == list(range(19)) + [255]
    np.testing.assert_array_equal(cs.to_train_ids(cs.to_label_ids(np.arange(19))), np.arange(19))
    assert cs.to_label_ids(np.array([255]))[0] == 0  # ignored -> unlabeled
    np.testing.assert_array_equal(cs.to_train_ids(ids.astype(np.int64)), train)
    with pytest.raises(ValueError, match="0..255"):
        cs.to_train_ids(np.array([-1, 3]))


def test_mini_cityscapes_is_in_the_official_layout(mini):
    for split, cities in (("train", {"aachen", "bochum"}), ("val", {"frankfurt", "lindau"})):
        frames = find_frames(mini, split)
        assert len(frames) == 4 and {f.image.parent.name for f in frames} == cities
        assert all(f.label_ids.is_file() and not f.train_ids.exists() for f in frames)
        assert all(Path(str(f.label_ids).replace("labelIds", "instanceIds")).is_file() for f in frames)
        assert frames[0].name.startswith(frames[0].image.parent.name + "_")
    values = set()
    for frame in find_frames(mini, "val") + find_frames(mini, "train"):
        values |= set(np.unique(np.asarray(Image.open(frame.label_ids))).tolist())
    assert {0, 1, 3, 4, 5, 6, 9, 18} <= values  # void / ignored ids, as the official annotations have them
    assert {7, 8, 11, 21, 23, 24, 26} <= values
    assert not values & {31, 32, 33}  # train, motorcycle, bicycle never appear


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"leftImg8bit/val: no such folder; expected the official"):
        find_frames(tmp_path, "val")
    with pytest.raises(ValueError, match="split must be"):
        find_frames(tmp_path, "training")


def test_dataset_converts_label_ids_and_accepts_train_ids(mini, tmp_path, registered):
    import shutil

    from paddleseg.transforms import Normalize

    from paddle_segformer.data.cityscapes import CityscapesDataset
    from paddle_segformer.data.cityscapes_prepare import prepare_cityscapes

    root = tmp_path / "cs"
    shutil.copytree(mini, root)
    dataset = CityscapesDataset("val", str(root), [Normalize()])
    assert len(dataset) == 4 and all(label.endswith("_gtFine_labelIds.png") for _, label in dataset.file_list)
    sample = dataset[0]
    raw = np.asarray(Image.open(dataset.file_list[0][1]))
    np.testing.assert_array_equal(sample["label"][0], cs.to_train_ids(raw))
    assert sample["img"].shape == (3, 96, 192) and 255 in sample["label"]
    prepare_cityscapes(root, progress=False)
    converted = CityscapesDataset("val", str(root), [Normalize()])
    assert all(label.endswith("_gtFine_labelTrainIds.png") for _, label in converted.file_list)
    np.testing.assert_array_equal(converted[0]["label"], sample["label"])
    listed = CityscapesDataset("train", str(root), [Normalize()], train_path="train.txt")
    assert len(listed) == 4 and listed.file_list[0][1].endswith("_gtFine_labelTrainIds.png")
    assert CityscapesDataset.CLASS_NAMES[18] == "bicycle" and CityscapesDataset.PALETTE[0] == (128, 64, 128)


def test_bad_label_ids_are_named(mini, tmp_path, registered):
    import shutil

    from paddleseg.transforms import Normalize

    from paddle_segformer.data.cityscapes import CityscapesDataset
    from paddle_segformer.io.image import ImageReadError

    root = tmp_path / "cs"
    shutil.copytree(mini, root)
    bad = find_frames(root, "val")[1].label_ids
    Image.fromarray(np.full((96, 192), 40, np.uint8)).save(bad)
    with pytest.raises(ImageReadError, match=rf"{bad.name}: label values \[40\] are outside 0..33"):
        CityscapesDataset("val", str(root), [Normalize()])
    os.remove(bad)
    with pytest.raises(FileNotFoundError, match=r"1 Cityscapes frame\(s\) have no gtFine label file"):
        CityscapesDataset("val", str(root), [Normalize()])


def test_prepare_writes_train_ids_and_lists_and_is_idempotent(mini, tmp_path, capsys):
    import shutil

    from paddle_segformer.cli.prepare_cityscapes import main

    root = tmp_path / "cs"
    shutil.copytree(mini, root)
    assert main(["--root", str(root)]) == 0
    first = capsys.readouterr().out
    assert "labelTrainIds: 8 written, 0 already up to date (skipped), 0 frame(s) skipped, 0 failed" in first
    for frame in find_frames(root, "train") + find_frames(root, "val"):
        converted = np.asarray(Image.open(frame.train_ids))
        np.testing.assert_array_equal(converted, cs.to_train_ids(np.asarray(Image.open(frame.label_ids))))
    lines = (root / "val.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and lines[0].startswith("leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png "
                                                   "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelTrainIds.png")
    assert all((root / p).is_file() for line in lines for p in line.split())
    assert main(["--root", str(root)]) == 0  # again: nothing to do
    assert "0 written, 8 already up to date (skipped)" in capsys.readouterr().out
    unlabelled = find_frames(root, "train")[0]
    os.remove(unlabelled.label_ids)
    os.remove(unlabelled.train_ids)
    corrupt = find_frames(root, "train")[1]
    corrupt.label_ids.write_bytes(b"not a png")
    os.utime(corrupt.label_ids, (os.path.getmtime(corrupt.train_ids) + 10,) * 2)  # newer: must be redone
    assert main(["--root", str(root)]) == 3
    out = capsys.readouterr().out
    assert f"skipped {unlabelled.image}: no label" in out and f"FAILED {corrupt.label_ids}" in out
    assert len((root / "train.txt").read_text(encoding="utf-8").splitlines()) == 2


def test_visualize_writes_image_prediction_truth_panels(mini, tmp_path, capsys):
    from paddle_segformer.cli.visualize import run

    predictions = tmp_path / "pred"
    frames = find_frames(mini, "val")
    for frame in frames[:3]:  # predict.py --label_ids cityscapes layout: <city>/<frame>_leftImg8bit.png, labelIds
        truth = cs.to_train_ids(np.asarray(Image.open(frame.label_ids)))
        out = predictions / frame.image.parent.name / frame.image.name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(cs.to_label_ids(np.where(truth == 255, 10, truth))).save(out)
    written = run(["--root", str(mini), "--predictions", str(predictions), "--label_ids", "cityscapes",
                   "--save_dir", str(tmp_path / "panels"), "--width", "192"])
    assert len(written) == 3 and "1 frame(s) without a prediction skipped" in capsys.readouterr().out
    assert written[0] == tmp_path / "panels" / "frankfurt" / f"{frames[0].name}.jpg"
    picture = np.asarray(Image.open(written[0])).astype(int)
    assert picture.shape[1] == 3 * (192 + 6) and picture.shape[0] > 28 + 96  # titles, three parts, legend
    truth_part, prediction_part = picture[28:28 + 96, 2 * 198:2 * 198 + 192], picture[28:28 + 96, 198:198 + 192]
    road = np.array(cs.PALETTE[0])
    assert np.abs(truth_part - road).sum(-1).min() < 30  # the official road colour (JPEG: nearly)
    assert np.abs(truth_part).sum(-1).min() < 30  # ignored pixels black
    assert np.abs(prediction_part - truth_part).mean() > 5  # the overlay shows the image through


def test_missing_cityscapes_folder_says_what_to_unpack(tmp_path):
    from paddle_segformer.cli.data_paths import check_dataset_paths
    from paddle_segformer.integration.config import ConfigError

    block = {"type": "CityscapesDataset", "dataset_root": str(tmp_path / "nowhere"), "mode": "val"}
    with pytest.raises(ConfigError, match=r"nowhere \(val_dataset.dataset_root in c.yml\)\. Unpack Cityscapes"):
        check_dataset_paths({"val_dataset": block}, "c.yml", ["val_dataset"])
