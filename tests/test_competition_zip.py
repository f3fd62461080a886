"""prepare_rs_parcels: the competition zips unpacked, checked, reported; idempotent; other datasets refused."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from paddle_segformer.data.competition_zip import MANIFEST, DatasetConflict, prepare

from .conftest import REPO

LABELS = {  # stem -> label tile; values 0..3 and 255 with known pixel counts
    "T000001": np.array([[0, 0], [1, 255]], np.uint8),
    "T000002": np.array([[2, 2], [3, 3]], np.uint8),
    "T000003": np.array([[0, 1], [2, 3]], np.uint8),
}


def _jpg(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (2, 2, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _png(label: np.ndarray) -> bytes:
    return cv2.imencode(".png", label)[1].tobytes()


def _zip(path: Path, files: dict) -> str:
    with zipfile.ZipFile(path, "w") as handle:
        for name, data in files.items():
            handle.writestr(name, data)
    return str(path)


def train_zip(path: Path, top: str = "train_and_label/", stems=tuple(LABELS), seed: int = 0,
              labels=LABELS) -> str:
    files = {f"{top}img_train/{s}.jpg": _jpg(seed + i) for i, s in enumerate(stems)}
    files.update({f"{top}lab_train/{s}.png": _png(labels[s]) for s in stems})
    files[f"{top}readme.txt"] = b"stray"
    files[f"__MACOSX/{top}img_train/._T000001.jpg"] = b"resource fork"
    return _zip(path, files)


def test_nested_top_folder_stray_files_and_report(tmp_path):
    zips = [train_zip(tmp_path / "train_and_label.zip", top="outer/train_and_label/"),
            _zip(tmp_path / "img_test.zip", {"img_test/img_testA/0.jpg": _jpg(9), "img_test/img_testA/1.jpg": _jpg(8)})]
    out = tmp_path / "data"
    report = prepare(zips, str(out), progress=False)
    assert sorted(os.listdir(out / "img_train")) == ["T000001.jpg", "T000002.jpg", "T000003.jpg"]
    assert sorted(os.listdir(out / "lab_train")) == ["T000001.png", "T000002.png", "T000003.png"]
    assert sorted(os.listdir(out / "img_testA")) == ["0.jpg", "1.jpg"]
    assert cv2.imread(str(out / "lab_train" / "T000002.png"), cv2.IMREAD_UNCHANGED).tolist() == [[2, 2], [3, 3]]
    assert report.counts == {"img_train": 3, "lab_train": 3, "img_testA": 2, "img_testB": 0}
    assert report.label_values == {0: 3, 1: 2, 2: 3, 3: 3, 255: 1}
    assert report.class_frequencies() == pytest.approx({0: 3 / 11, 1: 2 / 11, 2: 3 / 11, 3: 3 / 11})
    assert any(s.endswith("outer/train_and_label/readme.txt") for s in report.stray)
    assert any("__MACOSX" in s for s in report.stray) and report.extracted == 8
    text = report.summary()
    assert "img_train 3" in text and "img_testA 2" in text and "1: 18.18%" in text and "readme.txt" in text
    assert not (out / "readme.txt").exists() and (out / MANIFEST).is_file()


def test_missing_label_is_named_and_nothing_is_written(tmp_path):
    files = {"t/img_train/T000001.jpg": _jpg(0), "t/img_train/T000002.jpg": _jpg(1),
             "t/lab_train/T000001.png": _png(LABELS["T000001"])}
    archive = _zip(tmp_path / "train.zip", files)
    with pytest.raises(ValueError, match=r"train.zip: t/img_train/T000002.jpg has no label lab_train/T000002.png"):
        prepare([archive], str(tmp_path / "data"), progress=False)
    assert not (tmp_path / "data").exists()


def test_rerun_is_idempotent_and_an_interrupted_run_completes(tmp_path):
    archive = train_zip(tmp_path / "train.zip")
    out = tmp_path / "data"
    first = prepare([archive], str(out), progress=False)
    stamp = (out / "img_train" / "T000001.jpg").stat().st_mtime_ns
    again = prepare([archive], str(out), progress=False)
    assert again.unchanged and again.extracted == 0 and again.label_values == first.label_values
    assert (out / "img_train" / "T000001.jpg").stat().st_mtime_ns == stamp
    assert "nothing extracted" in again.summary()
    (out / MANIFEST).unlink()  # as if interrupted before the manifest: the files there are kept
    (out / "lab_train" / "T000003.png").unlink()
    resumed = prepare([archive], str(out), progress=False)
    assert resumed.extracted == 1 and resumed.label_values == first.label_values
    test_zip = _zip(tmp_path / "test.zip", {"img_testA/0.jpg": _jpg(5)})  # the second archive later
    assert prepare([archive, test_zip], str(out), progress=False).extracted == 1


def test_a_different_existing_dataset_is_refused(tmp_path):
    out = tmp_path / "data"
    prepare([train_zip(tmp_path / "a.zip", seed=0)], str(out), progress=False)
    other = train_zip(tmp_path / "b.zip", seed=100)  # same names, other pictures
    with pytest.raises(DatasetConflict, match=r"holds a different dataset.*img_train/T000001.jpg"):
        prepare([other], str(out), progress=False)
    plain = tmp_path / "plain"  # no manifest: an unrelated tile in the folder
    (plain / "img_train").mkdir(parents=True)
    (plain / "img_train" / "X.jpg").write_bytes(_jpg(3))
    with pytest.raises(DatasetConflict, match="X.jpg is not in the archives"):
        prepare([other], str(plain), progress=False)


def test_conflicting_archives_and_bad_archives(tmp_path):
    a = train_zip(tmp_path / "a.zip", seed=0)
    b = train_zip(tmp_path / "b.zip", seed=100)
    with pytest.raises(ValueError, match="img_train/T000001.jpg is in .*a.zip.*different, in .*b.zip"):
        prepare([a, b], str(tmp_path / "data"), progress=False)
    (tmp_path / "notzip.zip").write_bytes(b"plain text")
    with pytest.raises(ValueError, match="notzip.zip: not a zip archive"):
        prepare([str(tmp_path / "notzip.zip")], str(tmp_path / "data"), progress=False)
    empty = _zip(tmp_path / "other.zip", {"docs/readme.txt": b"x"})
    with pytest.raises(ValueError, match="other.zip: holds no img_train/"):
        prepare([empty], str(tmp_path / "data"), progress=False)


def test_command_line(tmp_path):
    archive = train_zip(tmp_path / "train_and_label.zip")
    script = str(REPO / "scripts" / "prepare_rs_parcels.py")
    run = subprocess.run([sys.executable, script, "--zip", archive, "--out", str(tmp_path / "data")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "img_train 3" in run.stdout and "class frequencies" in run.stdout and "data_split.py" in run.stdout
    missing = subprocess.run([sys.executable, script, "--zip", str(tmp_path / "nope.zip")], capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "nope.zip: archive not found" in missing.stderr
