"""A normal train / predict run prints what a user needs, not the notices of the libraries below."""
import subprocess
import sys

from .conftest import REPO, env_with_threads

NOISE = ("OMP_NUM_THREADS set to", "PLEASE USE OMP_NUM_THREADS WISELY", "No ccache found",
         "We suggest you manually set", "always track global mean and variance",
         "Cannot find suitable count function", "has been counted",  # paddle.flops, end of training
         "Attempted to fork from a non-main thread")  # numba, at OpenVINO's telemetry fork


def _run(tmp_path, *args):
    run = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=env_with_threads(2))  # > 1 thread: what makes Paddle print its lecture
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout + run.stderr


def test_train_and_predict_without_library_notices(tiny_config, tiny_data, tmp_path):
    out = _run(tmp_path, str(REPO / "train.py"), "--config", str(tiny_config), "--iters", "2", "--batch_size", "2",
               "--log_iters", "1", "--save_interval", "2", "--save_dir", str(tmp_path / "out"))
    out += _run(tmp_path, str(REPO / "predict.py"), "--config", str(tiny_config), "--model_path",
                str(tmp_path / "out" / "iter_2" / "model.pdparams"), "--image_path", str(tiny_data / "img_testA"),
                "--save_dir", str(tmp_path / "pred"))
    assert "[TRAIN]" in out and "predicted 3 image(s), 0 failed" in out  # the runs said what they did
    assert [n for n in NOISE if n in out] == [], out[-3000:]
