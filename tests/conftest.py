"""Shared fixtures: tiny synthetic datasets, configs pointing at them, random-weight checkpoints."""
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

import pytest
import yaml

from paddle_segformer.machine import prepare_env

prepare_env()  # before paddle is imported anywhere in the test session
# the user cache (runtime exports, passed data checks) of this test session only, never ~/.cache
os.environ.setdefault("PADDLE_SEGFORMER_CACHE", tempfile.mkdtemp(prefix="paddle_segformer_tests_"))

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
LEGACY_CONFIGS = Path(__file__).resolve().parent / "paddleseg_2x_configs"  # PaddleSeg 2.4-2.7 forms


@pytest.fixture(autouse=True, scope="session")
def no_internet():
    """The suite never touches the internet: a download from any host but this machine fails at once (the
    shipped configs name ImageNet weights by URL; the download tests serve theirs from 127.0.0.1)."""
    from urllib.parse import urlparse

    from paddle_segformer.weights import download

    real = download._open

    def loopback_only(url, timeout):
        if urlparse(url).hostname not in ("127.0.0.1", "localhost"):
            raise download.DownloadError(f"cannot download {url}: the tests never touch the internet")
        return real(url, timeout)

    patch = pytest.MonkeyPatch()
    patch.setattr(download, "_open", loopback_only)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def registered():
    import paddle_segformer

    paddle_segformer.register()
    return True


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """24 labelled 64x64 tiles + 3 test tiles in the competition layout, split 2:1."""
    from paddle_segformer.data.split import split_dataset
    from paddle_segformer.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("tiles")
    write_dataset(str(root), n_train=24, n_test=3, size=64, seed=3)
    split_dataset((0.67, 0.33, 0.0), str(root / "img_train"), str(root / "lab_train"), seed=0)
    return root


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# the shipped configs fine-tune from ImageNet weights named by URL; the tests train from scratch, offline
OFFLINE_MODEL = {"backbone": {"pretrained": None}}


def write_config(path: Path, data_root: Path, overrides: Optional[dict] = None, base: str = "segformerb0.yml") -> Path:
    """A config inheriting from the repo's ``base`` with the dataset moved to ``data_root``, from scratch
    (its ``pretrained:`` URL never read)."""
    cfg = {"_base_": str(CONFIGS / base), "batch_size": 4, "iters": 6, "model": OFFLINE_MODEL,
           "train_dataset": {"dataset_root": str(data_root),
                             "transforms": [{"type": "RandomHorizontalFlip"}, {"type": "Normalize"}]},
           "val_dataset": {"dataset_root": str(data_root)},
           "lr_scheduler": {"learning_rate": 0.001, "warmup_iters": 1}}
    path.write_text(yaml.safe_dump(_merge(cfg, overrides or {})), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_config(tiny_data, tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("cfg") / "tiny.yml", tiny_data)


@pytest.fixture(scope="session")
def random_checkpoint(tiny_config, registered, tmp_path_factory):
    """model.pdparams of a randomly initialised B0 built from the tiny config."""
    import paddle

    from paddle_segformer.integration.config import load_config

    paddle.seed(0)
    _, builder = load_config(str(tiny_config))
    model = builder.model
    path = tmp_path_factory.mktemp("ckpt") / "model.pdparams"
    paddle.save(model.state_dict(), str(path))
    return path


def checkpoint_folders(save_dir: Path) -> list:
    """The folders training made in ``save_dir`` (beside its files: pretrained.json, VisualDL logs)."""
    return sorted(p.name for p in save_dir.iterdir() if p.is_dir())


def env_with_threads(threads: int = 1) -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def pytest_terminal_summary(terminalreporter):
    """The fuzzing tally (tests/test_fuzz_inputs.py): how each entry point ended, per exit status."""
    fuzz = sys.modules.get("tests.test_fuzz_inputs")
    if fuzz is not None and fuzz.OUTCOMES:
        tally = ", ".join(f"{tool} exit {status}: {n}" for (tool, status), n in sorted(fuzz.OUTCOMES.items()))
        terminalreporter.write_line(f"fuzzing: {sum(fuzz.OUTCOMES.values())} cases ({tally})")
