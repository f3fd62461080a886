"""Two-process data-parallel training through paddle.distributed.launch (gloo on CPU)."""
import subprocess
import sys

import numpy as np
import paddle
import pytest

from .conftest import REPO, env_with_threads


@pytest.mark.slow
def test_two_process_training_keeps_replicas_in_sync(tiny_config, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), str(REPO / "tests" / "dist_worker.py"), str(tiny_config), str(out)]
    run = subprocess.run(cmd, cwd=tmp_path, env=env_with_threads(1), capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text(errors="replace") for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert run.returncode == 0, run.stdout[-3000:] + logs[-3000:]
    assert logs.count("on cpu x2") == 2  # both ranks joined one job
    assert (out / "iter_3" / "model.pdparams").is_file()  # rank 0 saved the checkpoint
    rank0, rank1 = paddle.load(str(out / "rank0.pdparams")), paddle.load(str(out / "rank1.pdparams"))
    start = paddle.load(str(out / "iter_3" / "model.pdparams"))
    assert set(rank0) == set(rank1)
    for key in rank0:
        if "_mean" in key or "_variance" in key:  # BatchNorm statistics are per process (not synced on CPU)
            continue
        np.testing.assert_allclose(rank0[key].numpy(), rank1[key].numpy(), atol=1e-6, err_msg=key)
        np.testing.assert_allclose(rank0[key].numpy(), start[key].numpy(), atol=1e-6, err_msg=key)
