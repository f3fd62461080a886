"""The stand-ins over paddleseg.core.train (paddle_segformer.engine.hooks): in place as HOOKS declares them,
outermost first, during a run; only the permanent ones before and after it, also when training raises."""
import importlib
import os
import shutil

import paddle
import pytest

from paddle_segformer.cli import train as train_cli
from paddle_segformer.engine import hooks
from paddle_segformer.engine.divergence import DivergenceGuard, DivergenceOptions

seg_train = importlib.import_module("paddleseg.core.train")
seg_val = importlib.import_module("paddleseg.core.val")
SLOTS = [(hooks.TRAIN, "paddle"), (hooks.TRAIN, "loss_computation"), (hooks.TRAIN, "shutil"), (hooks.TRAIN, "os"),
         (hooks.VAL, "paddle"),
         (hooks.OPTIMIZER, "step"), (hooks.MODEL, "forward"), (hooks.MODEL, "clear_gradients")]


def test_permanent_rows_are_innermost_on_every_slot():
    for owner, attribute in {(h.owner, h.attribute) for h in hooks.HOOKS}:
        kinds = [h.permanent for h in hooks.HOOKS if (h.owner, h.attribute) == (owner, attribute)]
        assert kinds == sorted(kinds), (owner, attribute)  # run rows first (outer), then permanent ones
        if owner in (hooks.MODEL, hooks.OPTIMIZER):
            assert not any(kinds)  # the run's objects exist for one run only


def test_the_order_is_written_once():
    assert hooks.declared(hooks.TRAIN, "paddle") == ["divergence_guard", "whole_checkpoints", "data_order",
                                                     "loss_scale", "amp_policy", "atomic_checkpoints"]
    assert hooks.declared(hooks.MODEL, "forward") == ["divergence_guard", "data_order"]
    assert hooks.declared(hooks.TRAIN, "loss_computation") == ["divergence_guard", "train_loss_0d"]


def _permanent_only(model, optimizer):
    assert hooks.stack(seg_train.paddle) == hooks.declared(hooks.TRAIN, "paddle")[-1:] == ["atomic_checkpoints"]
    assert hooks.stack(seg_train.loss_computation) == ["train_loss_0d"]
    assert seg_val.paddle is paddle and seg_train.shutil is shutil and seg_train.os is os
    assert "step" not in vars(optimizer) and not {"forward", "clear_gradients"} & set(vars(model))


def _seen_stacks(monkeypatch, fail_at=None):
    """Record every slot's stack at the end of each iteration (raising at iteration ``fail_at``)."""
    built, seen = {}, []
    build, end = train_cli.build, DivergenceGuard.end_iteration

    def keep(builder, what, path):
        built[what] = build(builder, what, path)
        return built[what]

    def end_iteration(guard):
        run = {hooks.MODEL: built["model"], hooks.OPTIMIZER: built["optimizer"], hooks.TRAIN: seg_train,
               hooks.VAL: seg_val}
        seen.append({slot: hooks.stack(getattr(run[slot[0]], slot[1])) for slot in SLOTS})
        if len(seen) == fail_at:
            raise RuntimeError("training failed here")
        end(guard)

    monkeypatch.setattr(train_cli, "build", keep)
    monkeypatch.setattr(DivergenceGuard, "end_iteration", end_iteration)
    return built, seen


@pytest.mark.parametrize("fail_at", [None, 2])
def test_training_stacks_the_hooks_as_declared_and_restores_them(fail_at, tiny_config, tmp_path, monkeypatch,
                                                                   registered):
    built, seen = _seen_stacks(monkeypatch, fail_at)
    if fail_at:
        with pytest.raises(RuntimeError, match="training failed here"):
            train_cli.train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=3, save_interval=1)
    else:
        train_cli.train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=3, save_interval=1)
    assert len(seen) == (fail_at or 3)
    for stacks in seen:
        assert stacks == {slot: hooks.declared(*slot) for slot in SLOTS}
    _permanent_only(built["model"], built["optimizer"])


def test_register_alone_puts_in_the_permanent_rows(registered):
    assert hooks.install_permanent().keys() == {"atomic_checkpoints", "train_loss_0d"}
    assert hooks.stack(seg_train.paddle) == ["atomic_checkpoints"]
    assert hooks.stack(seg_train.loss_computation) == ["train_loss_0d"]
    assert seg_train.paddle.__dict__[hooks.MARK][1] is paddle  # directly over Paddle itself


def test_a_failing_install_takes_out_what_went_in(monkeypatch, registered):
    model = paddle.nn.Linear(2, 2)
    optimizer = paddle.optimizer.SGD(parameters=model.parameters())

    def broken(inner, run):
        raise RuntimeError("cannot wrap")

    rows = list(hooks.HOOKS)
    at = next(i for i, h in enumerate(rows) if h.name == "loss_scale")
    rows[at] = hooks.Hook("loss_scale", hooks.TRAIN, "paddle", broken)
    monkeypatch.setattr(hooks, "HOOKS", tuple(rows))
    with pytest.raises(RuntimeError, match="cannot wrap"):
        with hooks.training_hooks(DivergenceGuard(DivergenceOptions()), model, optimizer):
            pass
    _permanent_only(model, optimizer)
