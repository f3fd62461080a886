"""Every bad input gets an error naming the file and the problem."""
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest

from paddle_segformer.cli.inference import load_model_weights
from paddle_segformer.data.check import DataCheckError
from paddle_segformer.data.dataset import RSParcelDataset
from paddle_segformer.integration.config import load_config
from paddle_segformer.io.image import ImageReadError, list_images, read_image, read_label
from paddle_segformer.weights.loading import load_pretrained
from paddle_segformer.weights.reader import CheckpointError

from .conftest import REPO


def _dataset(root, lines, mode="train", check=True):
    (root / "list.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    kwargs = {f"{mode}_path": str(root / "list.txt")}
    from paddleseg.transforms import Normalize

    return RSParcelDataset(mode, str(root), [Normalize()], check=check, **kwargs)


def _caught_when_built_and_when_loaded(root, lines, pattern):
    """The up-front check (dataset built) and the per-sample check (sample loaded) give the same message."""
    with pytest.raises(DataCheckError, match=r"1 of 1 image/label pair\(s\) failed the data check(.|\n)*" + pattern):
        _dataset(root, lines)
    dataset = _dataset(root, lines, check=False)
    with pytest.raises(ImageReadError, match=pattern):
        dataset[0]


def _write(root, name, array):
    cv2.imwrite(str(root / name), array)
    return name


def test_corrupt_image(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    label = _write(tmp_path, "bad.png", np.zeros((8, 8), np.uint8))
    _caught_when_built_and_when_loaded(tmp_path, [f"bad.jpg {label}"], r"bad\.jpg: not a readable image")


def test_empty_and_truncated_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png: file is empty"):
        read_image(tmp_path / "empty.png")
    good = cv2.imencode(".png", np.zeros((32, 32), np.uint8))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.png"):
        read_label(tmp_path / "cut.png")
    (tmp_path / "cut.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(ImageReadError, match=r"cut\.tif: cannot read raster"):
        read_image(tmp_path / "cut.tif")


def test_label_values_out_of_range(tmp_path):
    image = _write(tmp_path, "a.jpg", np.zeros((8, 8, 3), np.uint8))
    label = np.zeros((8, 8), np.uint8)
    label[0, 0], label[1, 1], label[2, 2] = 4, 255, 9
    _write(tmp_path, "a.png", label)
    _caught_when_built_and_when_loaded(tmp_path, [f"{image} a.png"],
                                       r"a\.png: label values \[4, 9\] are outside 0\.\.3")


def test_size_mismatch(tmp_path):
    image = _write(tmp_path, "a.jpg", np.zeros((8, 10, 3), np.uint8))
    label = _write(tmp_path, "a.png", np.zeros((8, 8), np.uint8))
    _caught_when_built_and_when_loaded(tmp_path, [f"{image} {label}"],
                                       r"a\.png: label is 8x8 .* image .*a\.jpg is 10x8")


def test_wrong_band_count_and_colour_label(tmp_path):
    _write(tmp_path, "grey.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageReadError, match=r"grey\.png: has 1 band\(s\), the config expects 3"):
        read_image(tmp_path / "grey.png", channels=3)
    _write(tmp_path, "rgb_label.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImageReadError, match=r"rgb_label\.png: label must be single-band"):
        read_label(tmp_path / "rgb_label.png")


def test_missing_listed_files_caught_at_start(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"list\.txt: 2 listed file\(s\) do not exist: .*nope\.jpg"):
        _dataset(tmp_path, ["nope.jpg nope.png"])
    with pytest.raises(ValueError, match=r"list\.txt:1: expected 'image label'"):
        _dataset(tmp_path, ["only_one_column.jpg"])


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: folder holds no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="missing: no such file or folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "anim.gif").write_bytes(bytes(range(256)))  # not an image we read, not a text list either
    with pytest.raises(ImageReadError, match=r"anim\.gif: neither an image .* nor a text list of image paths"):
        list_images(tmp_path / "anim.gif")
    (tmp_path / "list.txt").write_text("a.jpg\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"list\.txt: 1 listed image\(s\) do not exist: .*a\.jpg"):
        list_images(tmp_path / "list.txt")


def test_checkpoint_key_mismatch(tiny_config, tmp_path, registered):
    _, builder = load_config(str(tiny_config))
    model = builder.model
    state = model.state_dict()
    del state["backbone.block1.0.attn.q.weight"]
    state["backbone.patch_embed1.proj.weight"] = paddle.zeros([32, 4, 7, 7])
    state["extra.key"] = paddle.zeros([1])
    path = tmp_path / "wrong.pdparams"
    paddle.save(state, str(path))
    with pytest.raises(CheckpointError) as info:
        load_model_weights(model, str(path))
    text = str(info.value)
    assert "wrong.pdparams" in text and "missing 1" in text and "block1.0.attn.q.weight" in text
    assert "shape-mismatched 1" in text and "patch_embed1.proj.weight" in text and "unexpected 1" in text
    (tmp_path / "junk.pdparams").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*junk\.pdparams"):
        load_model_weights(model, str(tmp_path / "junk.pdparams"))
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*absent\.pdparams"):
        load_pretrained(model.backbone, str(tmp_path / "absent.pdparams"), what="backbone")


def test_new_class_count_reinitialises_only_the_classifier(tiny_config, tmp_path, registered):
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(0)
    source = SegFormer(19, mit("b0"))
    paddle.save(source.state_dict(), str(tmp_path / "city.pdparams"))
    target = SegFormer(4, mit("b0"), pretrained=str(tmp_path / "city.pdparams"))
    np.testing.assert_array_equal(target.backbone.norm4.weight.numpy(), source.backbone.norm4.weight.numpy())
    assert target.linear_pred.weight.shape == [4, 256, 1, 1]


def _error_lines(stderr):
    """The ``error:`` lines of a run's stderr (the CLI runner prints exactly one for an input error)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_cli_prints_one_clear_line(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "predict.py"), "--config", "configs/segformerb0.yml",
                          "--model_path", str(tmp_path / "none.pdparams"), "--image_path", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2
    errors = _error_lines(run.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: checkpoint not found:") and "none.pdparams" in errors[0]
    assert "Traceback" not in run.stderr


def test_folder_prediction_with_failures_exits_3(tiny_config, random_checkpoint, tiny_data, tmp_path, capsys,
                                                 caplog, registered):
    import shutil

    from paddle_segformer.cli.predict import main
    from paddle_segformer.cli.runtime import run_cli

    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(sorted((tiny_data / "img_testA").glob("*.jpg"))[0], folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    args = ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path", str(folder),
            "--save_dir", str(tmp_path / "out"), "--backend", "paddle"]
    assert run_cli(main, args) == 3
    assert (tmp_path / "out" / "label" / "good.png").is_file() and "broken.jpg" in caplog.text
    assert _error_lines(capsys.readouterr().err) == []  # a partial result, listed in the summary, not an error
    (folder / "broken.jpg").unlink()
    assert run_cli(main, args) == 0


@pytest.fixture(scope="module")
def broken_data(tiny_data, tmp_path_factory):
    """A copy of the tiny dataset whose 3rd training label has a value outside 0..3."""
    import shutil

    root = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(tiny_data, root)
    bad_label = (root / _lines_of(root / "train.txt")[2].split(" ")[1])
    label = cv2.imread(str(bad_label), cv2.IMREAD_UNCHANGED)
    label[5, 5] = 7
    cv2.imwrite(str(bad_label), label)
    return root, bad_label


def _lines_of(path):
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_sample_met_during_training_stops_with_its_name(broken_data, tmp_path, workers):
    from .conftest import env_with_threads, write_config

    root, bad_label = broken_data
    cfg = write_config(tmp_path / "broken.yml", root, {"batch_size": 1})
    cmd = [sys.executable, str(REPO / "train.py"), "--config", str(cfg), "--iters", "20", "--save_dir",
           str(tmp_path / "out"), "--num_workers", str(workers), "--save_interval", "100", "--skip_data_check"]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env_with_threads(2))
    assert run.returncode == 2, run.stderr[-2000:]
    errors = _error_lines(run.stderr)
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad_label}: label values [7] are outside 0..3"), \
        run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]


def test_bad_data_stops_training_before_it_starts(broken_data, tmp_path, capsys):
    import re

    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.train import main

    from .conftest import write_config

    root, bad_label = broken_data
    cfg = write_config(tmp_path / "broken.yml", root, {"batch_size": 1})
    assert run_cli(main, ["--config", str(cfg), "--iters", "20", "--save_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.match(r"error: 1 of \d+ image/label pair\(s\) failed the data check", err), err
    assert len(_error_lines(err)) == 1
    assert f"\n  {bad_label}: label values [7] are outside 0..3" in err
    assert not (tmp_path / "out").exists()  # no training step, no checkpoint folder


def test_export_without_weights_is_refused_unless_asked(tiny_config, tmp_path, capsys):
    """Before: export.py without --model_path exported random weights with a warning and exit 0."""
    from paddle_segformer.cli.export import main
    from paddle_segformer.cli.runtime import run_cli

    out = tmp_path / "export"
    assert run_cli(main, ["--config", str(tiny_config), "--save_dir", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: export.py needs --model_path (the trained weights to export); --random_weights exports randomly "
        "initialised weights instead"]
    assert not out.exists()  # refused before anything was built or written
    assert run_cli(main, ["--config", str(tiny_config), "--save_dir", str(out), "--random_weights"]) == 0
    assert (out / "deploy.yaml").is_file()


def test_a_transform_entry_without_type_is_refused_before_training(tiny_data, tmp_path, capsys):
    # found by the fuzzer (a config cut after "- t"): the string reached PaddleSeg's Compose and training ended
    # in "TypeError: 'str' object is not callable" at the first sample
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.train import main

    from .conftest import write_config

    config = write_config(tmp_path / "t.yml", tiny_data,
                          {"train_dataset": {"transforms": [{"type": "RandomHorizontalFlip"}, "t"]}})
    status = run_cli(main, ["--config", str(config), "--save_dir", str(tmp_path / "o"), "--iters", "1"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "train_dataset.transforms[1]: 't' is not a transform" in err
