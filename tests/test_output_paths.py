"""Output folders are checked before any work starts, a full disk stops a command with one line and keeps what
was written, and a train list smaller than one batch is refused (issue #20, items 4 and 5)."""
import errno
import os
from collections import namedtuple
from importlib import import_module

import pytest

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.engine.preflight import check_one_batch
from paddle_segformer.io import paths
from paddle_segformer.io.atomic import atomic_write_bytes
from paddle_segformer.io.paths import OutputPathError, check_output_dir

from .conftest import write_config


def _args(tool, tiny_config, random_checkpoint, tiny_data, save_dir):
    common = ["--config", str(tiny_config), "--save_dir", str(save_dir)]
    return common + {"train": ["--iters", "2", "--batch_size", "2"],
                     "predict": ["--model_path", str(random_checkpoint), "--image_path",
                                 str(tiny_data / "img_testA"), "--backend", "paddle"],
                     "val": ["--model_path", str(random_checkpoint), "--backend", "paddle"],
                     "export": ["--model_path", str(random_checkpoint)]}[tool]


@pytest.mark.parametrize("tool", ["train", "predict", "val", "export"])
def test_a_save_dir_that_is_a_file_is_refused_before_any_work(tool, tiny_config, random_checkpoint, tiny_data,
                                                              tmp_path, capsys):
    """Before: train.py accepted it and PaddleSeg's loop deleted the file to make a folder in its place."""
    target = tmp_path / "results"
    target.write_text("keep me", encoding="utf-8")
    main = import_module(f"paddle_segformer.cli.{tool}").main
    assert run_cli(main, _args(tool, tiny_config, random_checkpoint, tiny_data, target)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --save_dir {target} is a file, not a folder: give a folder (it is made if missing)"]
    assert target.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("tool", ["train", "predict"])
def test_a_save_dir_below_a_file_is_refused(tool, tiny_config, random_checkpoint, tiny_data, tmp_path, capsys):
    """Before: train.py ended in a NotADirectoryError traceback, predict.py ran the model on every file first."""
    (tmp_path / "f").write_text("", encoding="utf-8")
    main = import_module(f"paddle_segformer.cli.{tool}").main
    assert run_cli(main, _args(tool, tiny_config, random_checkpoint, tiny_data, tmp_path / "f" / "out")) == 2
    assert f"cannot be made: {tmp_path / 'f'} is a file, not a folder" in capsys.readouterr().err


def test_an_unwritable_folder_and_a_full_disk_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(paths.os, "access", lambda path, mode: False)  # as root, chmod cannot make it read-only
    with pytest.raises(OutputPathError, match=r"--save_dir .*out cannot be made: .* is not writable"):
        check_output_dir(tmp_path / "out")
    monkeypatch.undo()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(paths.shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 2 ** 20, 2 ** 20))
    with pytest.raises(OutputPathError, match=r"1 MiB free on its disk, about 3 MiB needed"):
        check_output_dir(tmp_path, 3 * 2 ** 20)
    assert check_output_dir(tmp_path, 2 ** 19) == tmp_path


def test_training_checks_room_for_its_checkpoints(tiny_config, tmp_path, monkeypatch, capsys):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(paths.shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - 2 ** 20, 2 ** 20))
    from paddle_segformer.cli.train import main

    args = ["--config", str(tiny_config), "--save_dir", str(tmp_path / "out"), "--iters", "2"]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err
    assert "error: --save_dir" in err and "1 MiB free on its disk, about" in err
    assert not (tmp_path / "out").exists()


def test_a_failed_write_names_the_output_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pdparams"
    atomic_write_bytes(target, b"iteration 4")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=rf"cannot write {target}: No space left on device") as err:
        atomic_write_bytes(target, b"iteration 8")
    assert err.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"iteration 4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pdparams"]


def test_a_full_disk_during_training_ends_in_one_line_with_earlier_checkpoints_intact(
        tiny_config, tmp_path, monkeypatch, capsys):
    import paddle

    from paddle_segformer.cli.train import main

    save, calls = paddle.save, []

    def fills_the_disk(obj, path, *args, **kwargs):
        calls.append(path)
        if any("iter_4" in str(p) for p in calls):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(paddle, "save", fills_the_disk)
    args = ["--config", str(tiny_config), "--save_dir", str(tmp_path / "out"), "--iters", "4",
            "--save_interval", "2", "--batch_size", "2"]
    assert run_cli(main, args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "No space left on device" in err[0] and "iter_4" in err[0]
    assert (tmp_path / "out" / "iter_2" / "model.pdparams").stat().st_size > 0
    assert paddle.load(str(tmp_path / "out" / "iter_2" / "model.pdparams"))  # whole and readable


@pytest.mark.parametrize("samples, batch, processes, ok", [(5, 4, 1, True), (3, 4, 1, False), (8, 4, 2, True),
                                                           (7, 4, 2, True), (6, 4, 2, False)])
def test_one_batch_per_process(samples, batch, processes, ok):
    if ok:
        check_one_batch(samples, batch, processes, "cfg.yml")
    else:
        with pytest.raises(ValueError, match=rf"cfg\.yml: the train list has {samples} sample"):
            check_one_batch(samples, batch, processes, "cfg.yml")


def test_a_train_list_smaller_than_a_batch_is_refused_before_training(tiny_data, tmp_path, capsys):
    """Before: PaddleSeg's loader with drop_last yielded no batch and its loop waited forever."""
    from paddle_segformer.cli.train import main

    samples = len((tiny_data / "train.txt").read_text(encoding="utf-8").splitlines())
    cfg = write_config(tmp_path / "big_batch.yml", tiny_data)
    args = ["--config", str(cfg), "--save_dir", str(tmp_path / "out"), "--batch_size", str(samples + 1)]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err
    assert f"the train list has {samples} sample(s), fewer than one batch of {samples + 1}" in err


def test_resume_from_a_folder_killed_while_it_was_saved_names_the_newest_complete_one(tmp_path, registered):
    """A kill -9 between PaddleSeg's two saves leaves iter_N with model.pdparams and no model.pdopt."""
    from paddle_segformer.cli.train import check_resume
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer
    from paddle_segformer.weights.reader import CheckpointError

    for n, files in ((2, ("model.pdparams", "model.pdopt")), (4, ("model.pdparams", "model.pdopt")),
                     (6, ("model.pdparams",))):
        (tmp_path / f"iter_{n}").mkdir()
        for name in files:
            (tmp_path / f"iter_{n}" / name).write_bytes(b"x")
    with pytest.raises(CheckpointError, match=rf"cannot resume: .*iter_6.model\.pdopt not found; the newest "
                                              rf"complete checkpoint beside it is {tmp_path / 'iter_4'}$"):
        check_resume(SegFormer(4, mit("b0")), str(tmp_path / "iter_6"))
