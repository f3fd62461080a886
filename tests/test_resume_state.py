"""Resume restores the optimizer (AdamW moments, bias-correction powers) and the learning-rate schedule,
not only the iteration number: checked on the first update after resuming, against the saved state."""
import re

import numpy as np
import paddle

from paddle_segformer.cli import train as train_cli

LR = re.compile(r"iter: (\d+)/\d+, loss: [0-9.]+, lr: ([0-9.]+)")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return np.asarray(value).tolist()


def _close(actual, expected, key):
    """Equal up to float32 rounding (cancellation leaves ~1e-8 absolute next to values of ~1e-2)."""
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()), err_msg=key)


def _watch_first_step(monkeypatch):
    """Record, at the first optimizer step of the next train() call: the gradients and the schedule's state
    before the update, and AdamW's accumulators after it."""
    seen, build = {}, train_cli.build

    def keep(builder, what, path):
        built = build(builder, what, path)
        if what == "optimizer":
            step = built.step

            def recording_step(*args, **kwargs):
                if "grads" in seen:
                    return step(*args, **kwargs)
                params = [p for p in built._parameter_list if p.grad is not None]
                seen["grads"] = {p.name: p.grad.numpy().copy() for p in params}
                seen["schedule"] = _plain(built._learning_rate.state_dict())
                result = step(*args, **kwargs)
                seen["after"] = {(kind, p.name): (acc[p.name].name, acc[p.name].numpy().copy())
                                 for kind, acc in built._accumulators.items() for p in params if p.name in acc}
                seen["betas"] = (float(built._beta1), float(built._beta2))
                return result

            built.step = recording_step
        return built

    monkeypatch.setattr(train_cli, "build", keep)
    return seen


def test_resume_restores_adamw_moments_and_schedule(tiny_config, tmp_path, capsys, monkeypatch, registered):
    out = tmp_path / "out"
    train_cli.train(str(tiny_config), save_dir=str(out), iters=4, save_interval=2, log_iters=1, seed=0)
    straight = dict(LR.findall(capsys.readouterr().out))
    saved = paddle.load(str(out / "iter_2" / "model.pdopt"))

    seen = _watch_first_step(monkeypatch)
    train_cli.train(str(tiny_config), save_dir=str(tmp_path / "resumed"), iters=4, save_interval=2, log_iters=1,
                    seed=1, resume_model=str(out / "iter_2"))
    resumed = dict(LR.findall(capsys.readouterr().out))

    assert seen["schedule"] == _plain(saved["LR_Scheduler"]) and seen["schedule"]["last_epoch"] == 2
    assert resumed["3"] == straight["3"] and resumed["4"] == straight["4"]  # the same rates as without a stop

    beta1, beta2 = seen["betas"]
    moments = {kind: {name: (key, value) for (k, name), (key, value) in seen["after"].items() if k == kind}
               for kind in ("moment1", "moment2", "beta1_pow_acc")}
    assert len(moments["moment1"]) == len(seen["grads"]) > 50
    started = 0
    for name, grad in seen["grads"].items():
        key, m1 = moments["moment1"][name]
        before = saved[key].numpy()
        started += bool(np.abs(before).sum() > 0)  # a fresh optimizer would start from zeros
        _close(m1, beta1 * before + (1 - beta1) * grad, key)
        key, m2 = moments["moment2"][name]
        _close(m2, beta2 * saved[key].numpy() + (1 - beta2) * grad ** 2, key)
        key, power = moments["beta1_pow_acc"][name]
        _close(power, saved[key].numpy() * beta1, key)
    assert started == len(seen["grads"])
