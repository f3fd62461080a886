"""data_split: pairs by stem, deterministic per seed, rejects bad ratios, article CLI form."""
import subprocess
import sys
from pathlib import Path

import pytest

from paddle_segformer.data.split import check_ratios, split_counts, split_dataset

from .conftest import REPO


@pytest.fixture()
def folders(tmp_path):
    img, lab = tmp_path / "img_train", tmp_path / "lab_train"
    img.mkdir(), lab.mkdir()
    # label names sort differently from image names (z-prefixed extra image, labels with other order)
    for stem in ["T3", "T1", "T10", "T2", "T20", "zz_only_image"]:
        (img / f"{stem}.jpg").write_bytes(b"x")
    for stem in ["T1", "T2", "T3", "T10", "T20", "only_label"]:
        (lab / f"{stem}.png").write_bytes(b"x")
    return img, lab


def _lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


def test_pairs_by_stem_and_reports_unpaired(folders, caplog):
    img, lab = folders
    result = split_dataset((0.6, 0.4, 0.0), str(img), str(lab), seed=1)
    lines = _lines(result.files["train"]) + _lines(result.files["val"])
    assert len(lines) == 5
    for line in lines:
        image, label = line.split(" ")
        assert Path(image).stem == Path(label).stem and image.startswith("img_train/")
    assert [p.name for p in result.unpaired_images] == ["zz_only_image.jpg"]
    assert [p.name for p in result.unpaired_labels] == ["only_label.png"]
    assert "only_label.png" in caplog.text
    assert _lines(result.files["test"]) == []


def test_deterministic_for_a_seed(folders, tmp_path):
    img, lab = folders
    a = split_dataset((0.6, 0.2, 0.2), str(img), str(lab), out_dir=str(tmp_path / "a"), seed=7)
    b = split_dataset((0.6, 0.2, 0.2), str(img), str(lab), out_dir=str(tmp_path / "b"), seed=7)
    c = split_dataset((0.6, 0.2, 0.2), str(img), str(lab), out_dir=str(tmp_path / "c"), seed=8)
    for name in ("train", "val", "test"):
        assert _lines(a.files[name]) == _lines(b.files[name])
    assert [_lines(a.files[n]) for n in ("train", "val")] != [_lines(c.files[n]) for n in ("train", "val")]


@pytest.mark.parametrize("ratios,match", [((0.9, 0.2, 0.0), "sum to 1"), ((1.2, -0.2, 0.0), ">= 0"),
                                          ((0.5, 0.5), "3 ratios")])
def test_bad_ratios(ratios, match):
    with pytest.raises(ValueError, match=match):
        check_ratios(ratios)


def test_counts():
    assert split_counts(100, (0.98, 0.02, 0.0)) == (98, 2, 0)
    assert sum(split_counts(66653, (0.98, 0.02, 0.0))) == 66653


def test_article_command_line(folders, tmp_path):
    img, lab = folders
    run = subprocess.run([sys.executable, str(REPO / "data_split.py"), "0.98", "0.02", "0", str(img), str(lab),
                          "--seed", "3", "--out_dir", str(tmp_path / "lists")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "lists" / "train.txt").is_file() and "unpaired: 1 image(s), 1 label(s)" in run.stdout
    bad = subprocess.run([sys.executable, str(REPO / "data_split.py"), "0.5", "0.2", "0", str(img), str(lab)],
                         capture_output=True, text=True)
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode == 2 and len(errors) == 1 and "sum to 1" in errors[0], bad.stderr


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "a.png").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="empty.*holds no files"):
        split_dataset((1, 0, 0), str(tmp_path / "empty"), str(tmp_path / "lab"))
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        split_dataset((1, 0, 0), str(tmp_path / "nope"), str(tmp_path / "lab"))
