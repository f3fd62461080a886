"""Real (short) training through paddleseg.core.train on generated tiles: loss falls, resume works."""
import logging
import os
import re

import paddle
import pytest

from paddle_segformer.cli.train import train
from paddle_segformer.weights.reader import CheckpointError

from .conftest import write_config

LOSS = re.compile(r"iter: (\d+)/\d+, loss: ([0-9.]+)")


def _losses(text):
    return [(int(i), float(v)) for i, v in LOSS.findall(text)]


def test_loss_goes_down(tiny_data, tmp_path, capsys, registered):
    # one fixed small batch, many steps: the loss must fall well below its start
    cfg = write_config(tmp_path / "overfit.yml", tiny_data, {"train_dataset": {"transforms": [{"type": "Normalize"}]}})
    train(str(cfg), save_dir=str(tmp_path / "out"), iters=40, batch_size=4, learning_rate=0.002,
          log_iters=5, save_interval=40, seed=0)
    losses = _losses(capsys.readouterr().out)
    assert [i for i, _ in losses] == list(range(5, 41, 5))
    assert losses[-1][1] < 0.7 * losses[0][1], losses
    saved = os.listdir(tmp_path / "out" / "iter_40")
    assert sorted(saved) == ["model.pdopt", "model.pdparams", "train_state.json"]  # written atomically: no temporaries


def test_resume_continues_where_it_stopped(tiny_config, tmp_path, capsys, registered):
    out = tmp_path / "out"
    train(str(tiny_config), save_dir=str(out), iters=4, save_interval=2, log_iters=1, seed=0)
    first = _losses(capsys.readouterr().out)
    assert [i for i, _ in first] == [1, 2, 3, 4]
    train(str(tiny_config), save_dir=str(out / "resumed"), iters=6, save_interval=2, log_iters=1, seed=0,
          resume_model=str(out / "iter_4"))
    second = _losses(capsys.readouterr().out)
    assert [i for i, _ in second] == [5, 6]
    assert os.path.isfile(out / "resumed" / "iter_6" / "model.pdparams")


def test_resume_from_wrong_checkpoint_is_refused(tiny_config, tmp_path, registered):
    bad = tmp_path / "iter_3"
    bad.mkdir()
    paddle.save({"linear_pred.weight": paddle.zeros([4, 256, 1, 1])}, str(bad / "model.pdparams"))
    paddle.save({}, str(bad / "model.pdopt"))
    with pytest.raises(CheckpointError, match=r"iter_3.*missing"):
        train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=4, resume_model=str(bad))
    with pytest.raises(CheckpointError, match="model.pdopt not found"):
        os.remove(bad / "model.pdopt")
        train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=4, resume_model=str(bad))


def test_fp16_on_cpu_says_so_and_trains_fp32(tiny_config, tmp_path, caplog, capsys, registered):
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=2, log_iters=1, fp16=True, device="cpu")
    warnings = [r.getMessage() for r in caplog.records if "needs a GPU" in r.getMessage()]
    assert len(warnings) == 1 and "fp32" in warnings[0]
    assert "use AMP" not in capsys.readouterr().out  # PaddleSeg's fp16 branch was not taken


def test_eval_during_training_writes_best_model(tiny_config, tmp_path, registered):
    train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=2, save_interval=2, do_eval=True, use_vdl=True)
    assert os.path.isfile(tmp_path / "o" / "best_model" / "model.pdparams")
    assert any(name.startswith("vdlrecords") for name in os.listdir(tmp_path / "o"))
