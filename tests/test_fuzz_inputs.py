"""Seeded fuzzing of the entry points over corrupted images, labels, YAML and checkpoints (issue #20): every
case ends in exit 0 (the corruption left a valid file), 2 (one ``error:`` line) or 3 (predict: the broken files
listed, every other written), never a traceback, never a hang. The default run tries a few cases of each
kind; ``-m slow`` tries many more."""
import shutil
from collections import Counter
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

from paddle_segformer.cli.runtime import run_cli

from .conftest import write_config

KINDS = ("truncate", "flip_bytes", "zero_length", "random_bytes", "splice")


def corrupt(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """``data`` damaged one way: cut short, bytes flipped, emptied, replaced by noise, or a block removed."""
    n = len(data)
    if kind == "truncate":
        return data[:int(rng.integers(0, max(n - 1, 1)))]
    if kind == "flip_bytes":
        out = bytearray(data)
        for i in rng.integers(0, n, size=int(rng.integers(1, 16))):
            out[i] ^= int(rng.integers(1, 256))
        return bytes(out)
    if kind == "zero_length":
        return b""
    if kind == "random_bytes":
        return rng.integers(0, 256, size=int(rng.integers(1, 4096)), dtype=np.uint8).tobytes()
    start = int(rng.integers(0, n))
    return data[:start] + data[start + int(rng.integers(1, max(n - start, 2))):]


# seeds 0..4 (one of each kind) in the default run, 5..39 under -m slow
CASES = [pytest.param(seed, KINDS[seed % len(KINDS)], marks=[pytest.mark.slow] if seed >= 5 else [])
         for seed in range(40)]


OUTCOMES: Counter = Counter()  # (tool, exit status) -> cases; printed at the end of the run (conftest)


def _run(tool: str, args, capsys):
    status = run_cli(import_module(f"paddle_segformer.cli.{tool}").main, args)
    OUTCOMES[(tool, status)] += 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == (1 if status == 2 else 0)
    return status, err


@pytest.fixture
def data_copy(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def _predict_case(seed, kind, data_copy, random_checkpoint, tiny_config, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    images = sorted((data_copy / "img_testA").iterdir())
    victim = images[seed % len(images)]
    victim.write_bytes(corrupt(victim.read_bytes(), kind, rng))
    status, err = _run("predict", ["--config", str(tiny_config), "--model_path", str(random_checkpoint),
                                   "--image_path", str(data_copy / "img_testA"), "--save_dir",
                                   str(tmp_path / "out"), "--backend", "paddle"], capsys)
    assert status in (0, 3), err[-2000:]
    written = {p.stem for p in (tmp_path / "out" / "label").glob("*.png")}
    others = {p.stem for p in images if p != victim}
    assert others <= written  # every other file's outputs are there
    assert (victim.stem in written) == (status == 0)


@pytest.mark.parametrize("seed, kind", CASES)
def test_predict_with_a_corrupted_image(seed, kind, data_copy, random_checkpoint, tiny_config, tmp_path, capsys):
    _predict_case(seed, kind, data_copy, random_checkpoint, tiny_config, tmp_path, capsys)


def _val_label_case(seed, kind, data_copy, random_checkpoint, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    first = (data_copy / "val.txt").read_text(encoding="utf-8").split()[1]
    label = data_copy / first
    label.write_bytes(corrupt(label.read_bytes(), kind, rng))
    cfg = write_config(tmp_path / "cfg.yml", data_copy)
    status, err = _run("val", ["--config", str(cfg), "--model_path", str(random_checkpoint),
                               "--backend", "paddle"], capsys)
    assert status in (0, 2), err[-2000:]
    if status == 2:
        assert first in err or label.name in err  # the message names the file


@pytest.mark.parametrize("seed, kind", CASES)
def test_val_with_a_corrupted_label(seed, kind, data_copy, random_checkpoint, tmp_path, capsys):
    _val_label_case(seed, kind, data_copy, random_checkpoint, tmp_path, capsys)



def _checkpoint_case(seed, kind, random_checkpoint, tiny_config, tiny_data, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    broken = tmp_path / "model.pdparams"
    broken.write_bytes(corrupt(Path(random_checkpoint).read_bytes(), kind, rng))
    status, err = _run("predict", ["--config", str(tiny_config), "--model_path", str(broken), "--image_path",
                                   str(tiny_data / "img_testA"), "--save_dir", str(tmp_path / "out"),
                                   "--backend", "paddle"], capsys)
    assert status in (0, 2), err[-2000:]
    if status == 2:
        assert str(broken) in err


@pytest.mark.parametrize("seed, kind", CASES)
def test_predict_with_a_corrupted_checkpoint(seed, kind, random_checkpoint, tiny_config, tiny_data, tmp_path,
                                            capsys):
    _checkpoint_case(seed, kind, random_checkpoint, tiny_config, tiny_data, tmp_path, capsys)



def _yaml_case(seed, kind, tiny_config, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    cfg = tmp_path / "broken.yml"
    cfg.write_bytes(corrupt(Path(tiny_config).read_bytes(), kind, rng))
    status, err = _run("train", ["--config", str(cfg), "--save_dir", str(tmp_path / "out"), "--iters", "1",
                                 "--batch_size", "2"], capsys)
    assert status in (0, 2), err[-2000:]


@pytest.mark.parametrize("seed, kind", CASES)
def test_train_with_a_corrupted_config(seed, kind, tiny_config, tmp_path, capsys):
    _yaml_case(seed, kind, tiny_config, tmp_path, capsys)

