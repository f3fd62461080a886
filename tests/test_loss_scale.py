"""GradScaler state through checkpoints (paddle_segformer.engine.loss_scale); the scaler is forced on, as on a GPU."""
import types

import numpy as np
import paddle

from paddle_segformer.engine import hooks
from paddle_segformer.engine.divergence import DivergenceGuard, DivergenceOptions
from paddle_segformer.engine.loss_scale import SCALER_FILE, ScalerWatch, load_scaler_state, save_scaler_state
from paddle_segformer.engine.whole_checkpoints import CheckpointFolders, StagedSavePaddle


def _enabled_scaler(scale=1024.0, incr_count=0):
    """A GradScaler in the state its __init__ gives it on a GPU (on a CPU Paddle 3.3.1 disables it)."""
    scaler = paddle.amp.GradScaler(enable=False)
    scaler._enable, scaler._use_dynamic_loss_scaling = True, True
    scaler._scale = paddle.to_tensor([scale], dtype="float32")
    scaler._incr_ratio, scaler._decr_ratio = 2.0, 0.5
    scaler._incr_every_n_steps, scaler._decr_every_n_nan_or_inf = 1000, 2
    scaler._incr_count, scaler._decr_count = incr_count, 0
    return scaler


def _plain(state):
    return {k: np.asarray(v).tolist() for k, v in state.items()}


def test_scaler_state_round_trips_through_a_checkpoint(tmp_path):
    folder = tmp_path / "iter_6"
    guard = DivergenceGuard(DivergenceOptions())
    run = types.SimpleNamespace(guard=guard, resume=None, folders=CheckpointFolders(str(tmp_path)))
    amp = types.SimpleNamespace(GradScaler=lambda **kw: _enabled_scaler(256.0, 17))
    hooks._watched_scaler(types.SimpleNamespace(amp=amp), run)  # the loss_scale row, as a run installs it
    trained = guard.amp.GradScaler(init_loss_scaling=1024)  # what PaddleSeg's loop calls
    written = types.SimpleNamespace(save=lambda obj, path: open(path, "wb").close())
    StagedSavePaddle(written, run.folders).save({}, str(folder / "model.pdopt"))  # the scaler state goes in too
    assert sorted(p.name for p in folder.iterdir()) == ["model.pdopt", SCALER_FILE]

    resumed = ScalerWatch(types.SimpleNamespace(GradScaler=lambda **kw: _enabled_scaler()), resume=str(folder))
    scaler = resumed.GradScaler(init_loss_scaling=1024)
    assert scaler is resumed.scaler
    assert _plain(scaler.state_dict()) == _plain(trained.state_dict())
    assert _plain(scaler.state_dict())["scale"] == [256.0]


def test_no_scaler_file_without_amp(tmp_path):
    assert save_scaler_state(paddle.amp.GradScaler(), str(tmp_path)) is None  # disabled on CPU
    assert save_scaler_state(None, str(tmp_path)) is None
    assert list(tmp_path.iterdir()) == []
    assert not load_scaler_state(_enabled_scaler(), str(tmp_path))  # no file: the scaler keeps its start
    assert _plain(_enabled_scaler().state_dict())["scale"] == [1024.0]


def test_paddleseg_amp_branch_runs_through_the_hooks(tiny_config, tmp_path, capsys, monkeypatch, registered):
    # on a CPU Paddle's auto_cast / GradScaler are no-ops, but PaddleSeg's fp16 branch still runs and
    # makes its scaler through the watched paddle.amp
    from paddle_segformer.cli import train as train_cli

    made = []
    original = ScalerWatch.GradScaler

    def watched(self, *args, **kwargs):
        made.append(original(self, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(train_cli, "resolve_precision", lambda *args: "fp16")
    monkeypatch.setattr(ScalerWatch, "GradScaler", watched)
    train_cli.train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=2, save_interval=2, log_iters=1)
    assert "use AMP to train" in capsys.readouterr().out
    assert len(made) == 1 and made[0].state_dict() == {}  # disabled here: nothing saved beside the weights
    assert sorted(p.name for p in (tmp_path / "o" / "iter_2").iterdir()) == ["model.pdopt", "model.pdparams",
                                                                            "train_state.json"]
