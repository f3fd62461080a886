"""Killed training resumes exactly (issue #20, item 10): an ``iter_N`` folder appears whole or not at all, and a
run resumed from it reaches, at iteration M, the very weights the uninterrupted run had there (same batches in
the same order, same crops, same drop-path masks: the data position is part of the checkpoint)."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_segformer.cli import train as train_cli
from paddle_segformer.engine.data_order import STATE_FILE, DataOrder, SeededSamples
from paddle_segformer.engine.whole_checkpoints import CheckpointFolders, StagedOs, StagedSavePaddle

from .conftest import REPO, checkpoint_folders, env_with_threads, write_config

AUGMENTED = {"train_dataset": {"transforms": [
    {"type": "ResizeStepScaling", "min_scale_factor": 0.75, "max_scale_factor": 1.25, "scale_step_size": 0.25},
    {"type": "RandomPaddingCrop", "crop_size": [48, 48]}, {"type": "RandomHorizontalFlip"}, {"type": "Normalize"}]},
    "batch_size": 2}


def _train(config, save_dir, *extra):
    cmd = [sys.executable, str(REPO / "train.py"), "--config", str(config), "--iters", "12", "--seed", "5",
           "--save_dir", str(save_dir), "--save_interval", "5", "--log_iters", "4",
           "--skip_data_check", *extra]
    env = env_with_threads(1)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _differing(a, b):
    return [k for k in a if not np.array_equal(np.asarray(a[k]), np.asarray(b[k]))]


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    """(config, save folder) of a 12-iteration run: 16 training tiles, batch 2 (8 batches an epoch), saves at
    iterations 5, 10 and 12."""
    root = tmp_path_factory.mktemp("exact")
    config = write_config(root / "augmented.yml", tiny_data, AUGMENTED)
    _train(config, root / "whole")
    return config, root / "whole"


@pytest.mark.parametrize("workers", ["0", pytest.param("2", marks=pytest.mark.slow)])
def test_a_resumed_run_reaches_the_uninterrupted_runs_weights(uninterrupted, workers, tmp_path):
    # fails before the fix: the resumed run started again at epoch 0, batch 0 (PaddleSeg's sampler), with
    # other crops (numpy's global stream) and other drop-path masks: 179 of 191 tensors differed at iteration 12.
    # Samples are seeded by position, so loader workers (which the uninterrupted run had none of) change nothing.
    config, whole = uninterrupted
    resumed = tmp_path / "resumed"
    state = json.loads((whole / "iter_5" / STATE_FILE).read_text())
    assert (state["epoch"], state["batch"], state["batches_per_epoch"], state["seed"]) == (0, 5, 8, 5)
    log = _train(config, resumed, "--resume_model", str(whole / "iter_5"),  # mid-epoch, then across an epoch
                 "--num_workers", workers)
    assert "starting at epoch 0, batch 5 of 8" in log
    for name in ("model.pdparams", "model.pdopt"):
        first, second = paddle.load(str(whole / "iter_12" / name)), paddle.load(str(resumed / "iter_12" / name))
        assert first.keys() == second.keys()
        assert not _differing(first, second), f"{name}: {len(_differing(first, second))} of {len(first)} differ"
    assert json.loads((resumed / "iter_12" / STATE_FILE).read_text()) == json.loads(
        (whole / "iter_12" / STATE_FILE).read_text())


def test_a_checkpoint_folder_appears_whole_or_not_at_all(tmp_path):
    folders = CheckpointFolders(str(tmp_path), [lambda folder: open(os.path.join(folder, "extra"), "w").close()])
    written = []

    class Disk:
        def save(self, obj, path):
            written.append(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(b"x")

    save, made = StagedSavePaddle(Disk(), folders), StagedOs(os, folders)
    made.makedirs(str(tmp_path / "iter_4"))  # PaddleSeg's makedirs: the name must not appear yet
    save.save({}, str(tmp_path / "iter_4" / "model.pdparams"))
    assert not (tmp_path / "iter_4").exists() and written[0].endswith(".part/model.pdparams")
    save.save({}, str(tmp_path / "iter_4" / "model.pdopt"))
    assert sorted(os.listdir(tmp_path / "iter_4")) == ["extra", "model.pdopt", "model.pdparams"]
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []
    save.save({}, str(tmp_path / "iter_4" / "model.pdparams"))  # a resumed run writing iter_4 again
    assert sorted(os.listdir(tmp_path / "iter_4")) == ["extra", "model.pdopt", "model.pdparams"]
    save.save({}, str(tmp_path / "iter_4" / "model.pdopt"))
    assert sorted(os.listdir(tmp_path / "iter_4")) == ["extra", "model.pdopt", "model.pdparams"]
    save.save({}, str(tmp_path / "best_model" / "model.pdparams"))  # not a checkpoint folder: straight through
    assert written[-1] == str(tmp_path / "best_model" / "model.pdparams")


def test_a_save_cut_short_leaves_no_checkpoint_under_its_name(tiny_config, tmp_path, monkeypatch, registered):
    # fails before the fix: iter_4 held model.pdparams without model.pdopt (a kill between PaddleSeg's two saves)
    from paddle_segformer.io import atomic

    real, cuts = atomic.atomic_save, [1]

    def cut(obj, path, **kwargs):
        if path.endswith("model.pdopt") and "iter_4" in path and cuts:
            cuts.pop()
            raise OSError(28, "No space left on device", path)
        real(obj, path, **kwargs)

    monkeypatch.setattr("paddle_segformer.engine.proxies.AtomicSavePaddle.save", staticmethod(cut))
    out = tmp_path / "o"
    with pytest.raises(OSError, match="No space left"):
        train_cli.train(str(tiny_config), save_dir=str(out), iters=6, save_interval=2, seed=1)
    assert checkpoint_folders(out) == ["iter_2"]  # no iter_4, no .part left behind
    assert sorted(os.listdir(out / "iter_2")) == ["model.pdopt", "model.pdparams", STATE_FILE]
    os.mkdir(out / ".iter_6.0123abcd.part")  # what a SIGKILL while saving leaves: removed by the next run
    train_cli.train(str(tiny_config), save_dir=str(out), iters=4, save_interval=2, seed=1,
                    resume_model=str(out / "iter_2"))
    assert checkpoint_folders(out) == ["iter_2", "iter_4"]


def test_samples_are_augmented_by_key_not_by_stream():
    class Draws:
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return index, np.random.rand(), __import__("random").random()

    order = DataOrder(seed=7, resume=None, iteration=0)
    samples = SeededSamples(Draws(), order)
    first = [samples[k] for k in (0, 4, 2)]
    np.random.seed(123)  # whatever happened to the global streams in between
    assert [samples[k] for k in (0, 4, 2)] == first
    assert first[1][0] == 1 and first[0][1] != first[1][1]  # key 4 is sample 1 of epoch 1, drawn afresh
    assert [s[1] for s in (SeededSamples(Draws(), DataOrder(8, None, 0))[k] for k in (0, 4, 2))] != \
        [s[1] for s in first]
