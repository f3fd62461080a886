"""submission_zip: one label PNG per test image, checked before the zip is written."""
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from paddle_segformer.data.submission import submission_zip
from paddle_segformer.io.image import ImageReadError

from .conftest import REPO


@pytest.fixture()
def folders(tmp_path):
    test, labels = tmp_path / "img_testA", tmp_path / "label"
    test.mkdir(), labels.mkdir()
    for stem in ("0", "1", "10"):
        Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(test / f"{stem}.jpg")
        img = Image.fromarray(np.full((6, 8), int(stem) % 4, np.uint8), mode="P")
        img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
        img.save(labels / f"{stem}.png")
    return test, labels


def test_zip_holds_one_label_per_test_image(folders, tmp_path):
    test, labels = folders
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(labels / "extra.png")  # no test image: left out
    out = submission_zip(str(labels), str(test), str(tmp_path / "sub" / "submission.zip"))
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["0.png", "1.png", "10.png"]
        archive.extract("1.png", tmp_path / "x")
    assert np.asarray(Image.open(tmp_path / "x" / "1.png")).tolist() == np.ones((6, 8)).tolist()


def test_missing_wrong_size_or_bad_values_are_named(folders, tmp_path):
    test, labels = folders
    (labels / "10.png").unlink()
    with pytest.raises(ValueError, match=r"1 test image\(s\) have no label .* e.g. .*10.jpg"):
        submission_zip(str(labels), str(test), str(tmp_path / "s.zip"))
    Image.fromarray(np.zeros((5, 8), np.uint8)).save(labels / "10.png")
    with pytest.raises(ValueError, match=r"10.png: label is 8x5 .* is 8x6"):
        submission_zip(str(labels), str(test), str(tmp_path / "s.zip"))
    Image.fromarray(np.full((6, 8), 255, np.uint8)).save(labels / "10.png")
    with pytest.raises(ImageReadError, match=r"10.png: label values \[255\]"):
        submission_zip(str(labels), str(test), str(tmp_path / "s.zip"))
    assert not (tmp_path / "s.zip").exists()


def test_command_line(folders, tmp_path):
    test, labels = folders
    script = str(REPO / "scripts" / "make_submission.py")
    run = subprocess.run([sys.executable, script, "--labels", str(labels), "--test_dir", str(test), "--out",
                          str(tmp_path / "submission.zip")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert zipfile.ZipFile(tmp_path / "submission.zip").namelist() == ["0.png", "1.png", "10.png"]
    (labels / "1.png").unlink()
    bad = subprocess.run([sys.executable, script, "--labels", str(labels), "--test_dir", str(test), "--out",
                          str(tmp_path / "s2.zip")], capture_output=True, text=True)
    assert bad.returncode == 2 and "have no label" in bad.stderr and "1.jpg" in bad.stderr
