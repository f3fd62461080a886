"""Fault injection: training and prediction killed with SIGKILL at several moments (issue #20). Nothing under its
final name is ever truncated, and a re-run (training: ``--resume_model`` of the newest complete checkpoint)
completes. The kill moments are drawn from a seeded generator; where in the work each lands depends on the
machine's speed, and the checks hold wherever it lands."""
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_segformer.engine.divergence import CHECKPOINT_FILES, newest_complete_checkpoint
from paddle_segformer.io.image import read_label

from .conftest import REPO, env_with_threads

pytestmark = pytest.mark.slow


def _run_and_kill(cmd, after: float) -> int:
    """Start ``cmd``; SIGKILL it after ``after`` seconds unless it ended first; its exit status."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env_with_threads(1), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        return proc.wait()


def _visible_files(root: Path):
    return [p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts[-2:])]


def _checkpoints_whole(save_dir: Path) -> None:
    """Every checkpoint file under its final name loads; a temporary (.part) may be left, never a cut file."""
    for path in _visible_files(save_dir):
        if path.suffix in (".pdparams", ".pdopt", ".pdstates"):
            assert paddle.load(str(path)) is not None, path


def test_training_killed_at_random_moments_resumes_and_completes(tiny_config, tmp_path):
    out = tmp_path / "out"
    base = [sys.executable, "train.py", "--config", str(tiny_config), "--save_dir", str(out), "--iters", "300",
            "--save_interval", "2", "--batch_size", "2", "--keep_checkpoint_max", "2", "--seed", "0"]
    statuses = []
    for kill_after in np.random.default_rng(0).uniform(4.0, 10.0, size=3):
        newest = newest_complete_checkpoint(str(out))
        statuses.append(_run_and_kill(base + (["--resume_model", newest] if newest else []), kill_after))
        _checkpoints_whole(out)
        if statuses[-1] == 0:
            break
        assert statuses[-1] == -signal.SIGKILL, statuses
    assert -signal.SIGKILL in statuses  # at least one run was killed (300 iterations take longer than 10 s)
    completed = statuses[-1] == 0
    if not completed:
        newest = newest_complete_checkpoint(str(out))
        final = subprocess.run(base + (["--resume_model", newest] if newest else []), cwd=REPO,
                               env=env_with_threads(1), capture_output=True, text=True, timeout=600)
        assert final.returncode == 0, final.stderr[-3000:]
    assert all((out / "iter_300" / name).is_file() for name in CHECKPOINT_FILES)
    _checkpoints_whole(out)
    # ... and reaches the weights of the same command run without a kill (issue #20, item 10)
    whole = tmp_path / "whole"
    done = subprocess.run([*base[:5], str(whole), *base[6:]], cwd=REPO, env=env_with_threads(1),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    killed, uninterrupted = (paddle.load(str(d / "iter_300" / "model.pdparams")) for d in (out, whole))
    differing = [k for k in killed if not np.array_equal(np.asarray(killed[k]), np.asarray(uninterrupted[k]))]
    assert not differing, f"{len(differing)} of {len(killed)} tensors differ from the uninterrupted run's"


def test_prediction_killed_at_random_moments_leaves_no_cut_output_and_reruns(tiny_config, random_checkpoint,
                                                                             tmp_path):
    from paddle_segformer.data.synthetic import write_dataset

    write_dataset(str(tmp_path / "tiles"), n_train=240, n_test=0, size=128, seed=5)
    images, out = tmp_path / "tiles" / "img_train", tmp_path / "pred"
    cmd = [sys.executable, "predict.py", "--config", str(tiny_config), "--model_path", str(random_checkpoint),
           "--image_path", str(images), "--save_dir", str(out), "--backend", "paddle"]
    statuses = []
    for kill_after in np.random.default_rng(1).uniform(4.0, 8.0, size=3):
        statuses.append(_run_and_kill(cmd, kill_after))
        for label in (out / "label").glob("*.png") if (out / "label").is_dir() else []:
            read_label(str(label))  # decodes whole (a cut PNG is refused by name)
    assert -signal.SIGKILL in statuses
    final = subprocess.run(cmd, cwd=REPO, env=env_with_threads(1), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    inputs = len(list(images.glob("*.jpg")))
    assert len(list((out / "label").glob("*.png"))) == len(list((out / "overlay").glob("*.jpg"))) == inputs
