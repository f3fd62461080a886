"""The NaN / Inf guard: NaN injected into the loss or a weight of a tiny real training run."""
import hashlib
import importlib
import logging
import math
import os

import numpy as np
import paddle
import pytest

from paddle_segformer.cli import train as train_cli
from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.cli.train import main, train
from paddle_segformer.engine.divergence import DivergenceGuard, DivergenceOptions, TrainingDiverged, non_finite_keys
from paddle_segformer.engine.loss_scale import lower_loss_scale

from .conftest import checkpoint_folders

seg_train = importlib.import_module("paddleseg.core.train")  # the module (paddleseg.core.train is also a function)


def _nan_from(monkeypatch, first, last=None, weight=False):
    """Make loss_computation's call number ``first`` (.. ``last``) NaN, or set a weight to NaN there."""
    original, calls, built = seg_train.loss_computation, [], {}
    build = train_cli.build

    def keep(builder, what, path):
        built[what] = build(builder, what, path)
        return built[what]

    monkeypatch.setattr(train_cli, "build", keep)

    def loss_computation(logits_list, labels, edges, losses):
        calls.append(1)
        out = original(logits_list=logits_list, labels=labels, edges=edges, losses=losses)
        if first <= len(calls) <= (last or math.inf):
            if weight:
                if len(calls) == first:
                    param = built["model"].parameters()[0]
                    param.set_value(np.full(param.shape, np.nan, dtype="float32"))
                return out
            return [loss * float("nan") for loss in out]
        return out

    monkeypatch.setattr(seg_train, "loss_computation", loss_computation)
    return calls


def _finite_checkpoint(folder):
    for name in ("model.pdparams", "model.pdopt"):
        state = paddle.load(os.path.join(folder, name))
        assert non_finite_keys(state) == [], (folder, name)


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_transient_nan_loss_skips_update_and_goes_on(tiny_config, tmp_path, caplog, monkeypatch, registered):
    _nan_from(monkeypatch, 2, 2)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        train(str(tiny_config), save_dir=str(out), iters=4, save_interval=2, log_iters=1, seed=0,
              divergence=DivergenceOptions(patience=2))
    skipped = [r.getMessage() for r in caplog.records if "update skipped" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].startswith("iteration 2: non-finite loss nan"), skipped
    _finite_checkpoint(out / "iter_2")  # without the guard AdamW would have written NaN weights here
    _finite_checkpoint(out / "iter_4")


def test_persistent_nan_stops_with_one_line_and_status_4(tiny_config, tmp_path, capsys, monkeypatch, registered):
    _nan_from(monkeypatch, 3)
    out = tmp_path / "o"
    status = run_cli(main, ["--config", str(tiny_config), "--save_dir", str(out), "--iters", "8",
                            "--save_interval", "2", "--log_iters", "1", "--device", "cpu", "--nan_patience", "3"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert status == 4
    assert len(errors) == 1, errors
    assert errors[0].startswith("error: training diverged at iteration 5: 3 consecutive"), errors
    assert f"last good checkpoint: {out / 'iter_2'};" in errors[0]
    assert "fp32" in errors[0] and "--learning_rate" in errors[0] and "--amp_level O1" in errors[0]
    assert checkpoint_folders(out) == ["iter_2", "iter_4"]  # stopped before iteration 6
    _finite_checkpoint(out / "iter_2")
    _finite_checkpoint(out / "iter_4")  # the NaN updates of iterations 3 and 4 were skipped


def test_nan_weight_is_never_saved_and_best_model_kept(tiny_config, tmp_path, monkeypatch, registered):
    _nan_from(monkeypatch, 3, weight=True)
    out = tmp_path / "o"
    with pytest.raises(TrainingDiverged, match=r"iteration 4: not writing .*iter_4.model\.pdparams: non-finite"):
        train(str(tiny_config), save_dir=str(out), iters=6, save_interval=2, do_eval=True, seed=0,
              divergence=DivergenceOptions(patience=5))
    assert checkpoint_folders(out) == ["best_model", "iter_2"]  # no (empty) iter_4 folder either
    _finite_checkpoint(out / "iter_2")
    assert _digest(out / "best_model" / "model.pdparams") == _digest(out / "iter_2" / "model.pdparams")


def test_hooks_are_removed_after_training(tiny_config, tmp_path, registered):
    before = (seg_train.loss_computation, seg_train.paddle)
    train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=1, save_interval=1)
    assert (seg_train.loss_computation, seg_train.paddle) == before


def test_check_save_refuses_non_finite_state(tmp_path):
    guard = DivergenceGuard(DivergenceOptions(), resume_model=str(tmp_path / "iter_10"))
    folder = tmp_path / "best_model"
    folder.mkdir()
    state = {"a": paddle.ones([2]), "opt": {"m": paddle.to_tensor([1.0, float("inf")])}}
    with pytest.raises(TrainingDiverged, match=r"iteration 10: not writing .*best_model.*opt/m.*iter_10"):
        guard.check_save(state, str(folder / "model.pdparams"))
    assert not folder.exists()  # the empty folder is gone too
    guard.check_save({"a": paddle.ones([2]), "step": 3}, str(tmp_path / "x.pdparams"))  # finite: no error


def test_patience_must_be_positive():
    with pytest.raises(ValueError, match="nan_patience"):
        DivergenceOptions(patience=0)
    with pytest.raises(ValueError, match="nan_policy"):
        DivergenceOptions(policy="ignore")


def test_rollback_reloads_last_good_checkpoint_and_goes_on(tiny_config, tmp_path, caplog, monkeypatch, registered):
    first = tmp_path / "first"
    train(str(tiny_config), save_dir=str(first), iters=2, save_interval=2, seed=0)
    _nan_from(monkeypatch, 2, weight=True)  # iteration 4 of the resumed run poisons a weight for good
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        model = train(str(tiny_config), save_dir=str(out), iters=8, save_interval=6, seed=0,
                      resume_model=str(first / "iter_2"), divergence=DivergenceOptions(patience=2, policy="rollback"))
    rolled = [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()]
    assert len(rolled) == 1 and rolled[0].startswith("iteration 6: 2 consecutive"), rolled
    assert str(first / "iter_2") in rolled[0]
    skipped = [r.getMessage() for r in caplog.records if "update skipped" in r.getMessage()]
    assert [m.split(":")[0] for m in skipped] == ["iteration 5"], skipped  # 6 rolled back instead
    saved = paddle.load(str(out / "iter_6" / "model.pdparams"))
    good = paddle.load(str(first / "iter_2" / "model.pdparams"))
    assert all(np.array_equal(saved[k].numpy(), good[k].numpy()) for k in good)  # iteration 6 ended rolled back
    _finite_checkpoint(out / "iter_8")
    assert non_finite_keys(model.state_dict()) == []


def test_rollback_without_a_checkpoint_stops(tiny_config, tmp_path, monkeypatch, registered):
    _nan_from(monkeypatch, 1)
    with pytest.raises(TrainingDiverged, match="iteration 2: .*last good checkpoint: none written"):
        train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=4, save_interval=4,
              divergence=DivergenceOptions(patience=2, policy="rollback"))


def test_lower_loss_scale_halves_an_enabled_scaler():
    class Scaler:  # the state_dict / load_state_dict interface of paddle.amp.GradScaler (disabled on CPU)
        state = {"scale": np.array([1024.0], dtype="float32"), "incr_count": 7}

        def state_dict(self):
            return dict(self.state)

        def load_state_dict(self, state):
            self.state = state

    scaler = Scaler()
    assert lower_loss_scale(scaler) == 512.0 and scaler.state["incr_count"] == 7
    assert lower_loss_scale(None) is None
    assert lower_loss_scale(paddle.amp.GradScaler()) is None  # CPU: disabled, nothing to lower


@pytest.mark.parametrize("policy", ["stop", "rollback"])
def test_keep_checkpoint_max_spares_the_last_good_checkpoint(policy, tiny_config, tmp_path, capsys, caplog,
                                                             monkeypatch, registered):
    # NaN losses at iterations 3..5: iter_4 is written during the bad run (finite weights, not good), and
    # PaddleSeg's keep_checkpoint_max 1 would delete iter_2, the one the stop message and the rollback need
    _nan_from(monkeypatch, 3, 5 if policy == "rollback" else None)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        status = run_cli(main, ["--config", str(tiny_config), "--save_dir", str(out), "--iters", "8",
                                "--save_interval", "2", "--keep_checkpoint_max", "1", "--do_eval", "--seed", "0",
                                "--device", "cpu", "--nan_patience", "3", "--nan_policy", policy])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    if policy == "stop":
        assert status == 4 and len(errors) == 1, errors
        assert f"last good checkpoint: {out / 'iter_2'};" in errors[0]
        assert f"--resume_model {out / 'iter_2'}" in errors[0]
        assert checkpoint_folders(out) == ["best_model", "iter_2", "iter_4"]  # iter_2 spared, for the resume
        _finite_checkpoint(out / "iter_2")
    else:
        assert status == 0, errors
        rolled = [r.getMessage() for r in caplog.records if "rolled back" in r.getMessage()]
        assert len(rolled) == 1 and rolled[0].startswith("iteration 5: 3 consecutive"), rolled
        assert str(out / "iter_2") in rolled[0]
        assert checkpoint_folders(out) == ["best_model", "iter_8"]  # spared iter_2 removed once iter_6 was good
        _finite_checkpoint(out / "iter_8")
    assert (out / "best_model" / "model.pdparams").is_file()
