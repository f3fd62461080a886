"""A NaN in one process of a data-parallel job: every process takes the same decision at the same iteration."""
import os
import signal
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_segformer.engine import divergence
from paddle_segformer.engine.divergence import DivergenceGuard, DivergenceOptions, TrainingDiverged, non_finite_keys

from .conftest import REPO, env_with_threads


def test_another_process_verdict_is_taken_here(tmp_path, monkeypatch):
    # as rank 1 sees it: its own loss and gradients are finite, rank 0 reports a bad iteration and has
    # written iter_4 as its last good checkpoint
    monkeypatch.setattr(divergence, "agree", lambda values: (1, 4))
    guard = DivergenceGuard(DivergenceOptions(patience=2), save_dir=str(tmp_path))
    steps = []
    for _ in range(2):
        guard.record_losses([])
        assert guard.guarded_step(lambda: steps.append(1), []) is None  # skipped, as everywhere else
        if guard.consecutive == 1:
            with pytest.raises(TrainingDiverged, match=r"iteration 2: 2 consecutive .*another process") as info:
                guard.end_iteration()
        else:
            guard.end_iteration()
    assert steps == [] and f"last good checkpoint: {tmp_path / 'iter_4'};" in str(info.value)


def _launch(tmp_path, config, nan_in, policy="stop", iters=12, fails=True):
    """Two processes of dist_nan_worker.py (train.py with a NaN in one process); returns their logs."""
    log = tmp_path / "log"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(log),
           str(REPO / "tests" / "dist_nan_worker.py"), "--config", str(config), "--iters",
           str(iters), "--save_interval", "1", "--keep_checkpoint_max", "20", "--log_iters", "1", "--save_dir",
           str(tmp_path / "out"), "--nan_patience", "2", "--nan_policy", policy, "--device", "cpu"]
    launcher = subprocess.Popen(cmd, cwd=tmp_path, env=dict(env_with_threads(1), NAN_IN=nan_in),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        launcher.communicate(timeout=300)  # a process left waiting in an all-reduce would hang here
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert (launcher.returncode != 0) == fails, launcher.returncode
    return {p.name: p.read_text(errors="replace") for p in sorted(log.glob("workerlog.*"))}


def _errors(logs):
    assert len(logs) == 2
    errors = {name: [line for line in text.splitlines() if line.startswith("error:")] for name, text in logs.items()}
    for name, lines in errors.items():
        assert len(lines) == 1, (name, logs[name][-3000:])
    return [lines[0] for lines in errors.values()]


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["stop", "rollback"])
def test_nan_loss_in_one_process_stops_both_with_the_message(policy, tiny_config, tmp_path):
    # rank 1's loss is NaN from iteration 2 on, rank 0's never: both skip the same updates, roll back
    # together to rank 0's last good checkpoint (3 times, then stop) or stop at once, with the same line
    out = tmp_path / "out"
    logs = _launch(tmp_path, tiny_config, "loss", policy)
    # stop: at iteration 3, iter_1 the last good. rollback: at iterations 3, 5, 7 to the newest checkpoint
    # written with good weights (iter_1, then the restored weights saved at 3 and 5), stop at 9
    stop_at, good = (3, 1) if policy == "stop" else (9, 7)
    rolled = [] if policy == "stop" else [f"rolled back to {out / f'iter_{i}'} (rollback {n}/3)"
                                          for n, i in enumerate((1, 3, 5), 1)]
    for error in _errors(logs):
        assert error.startswith(f"error: training diverged at iteration {stop_at}: 2 consecutive"), error
        assert f"last good checkpoint: {out / f'iter_{good}'};" in error, error
    for text in logs.values():
        assert [line[line.index("rolled back"):] for line in text.splitlines() if "rolled back" in line] == rolled


@pytest.mark.slow
def test_nan_weights_in_the_saving_process_stop_both(tiny_config, tmp_path):
    # rank 0's BatchNorm running mean turns NaN at iteration 2 (losses stay finite): its iter_2 would be
    # refused; both processes stop there instead of rank 1 waiting for rank 0 in the next all-reduce
    out = tmp_path / "out"
    errors = _errors(_launch(tmp_path, tiny_config, "batchnorm"))
    for error in errors:
        assert error.startswith("error: training diverged at iteration 2: non-finite "), error
        assert f"not writing iter_2; last good checkpoint: {out / 'iter_1'};" in error, error
    assert any("linear_fuse._batch_norm._mean" in error for error in errors)
    assert not (out / "iter_2").exists()


@pytest.mark.slow
def test_nan_born_in_one_process_forward_restores_every_process_statistics(tiny_config, tmp_path):
    # rank 1's activation is NaN in iteration 2 only: both processes skip that update and both put their
    # BatchNorm statistics back (rank 0's moved with finite values, rank 1's with NaN); the run goes on
    logs = _launch(tmp_path, tiny_config, "activation", iters=4, fails=False)
    for text in logs.values():
        skipped = [line[line.index("iteration"):] for line in text.splitlines() if "update skipped" in line]
        assert len(skipped) == 1 and skipped[0].startswith("iteration 2: non-finite"), skipped
    for rank in (0, 1):
        running = [np.load(tmp_path / f"running_rank{rank}_{n}.npy") for n in (1, 2, 3, 4)]
        assert all(np.isfinite(r).all() for r in running), rank
        assert not np.array_equal(running[0], running[1]), rank  # iteration 1 moved them
        assert np.array_equal(running[1], running[2]), rank  # iteration 2 (skipped) left them as they were
    saved = [paddle.load(str(tmp_path / "out" / f"iter_{i}" / "model.pdparams")) for i in (1, 2)]
    assert all(np.array_equal(saved[0][k].numpy(), saved[1][k].numpy()) for k in saved[0])
    assert non_finite_keys(paddle.load(str(tmp_path / "out" / "iter_4" / "model.pdparams"))) == []
