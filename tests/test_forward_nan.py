"""NaN / Inf born in the forward pass (a poisoned input image, a poisoned activation inside the network): the
skipped iteration leaves the model as it was, BatchNorm running statistics included."""
import importlib
import logging

import numpy as np
import paddle
import pytest

from paddle_segformer.cli import train as train_cli
from paddle_segformer.cli.train import train
from paddle_segformer.engine.divergence import DivergenceOptions

seg_train = importlib.import_module("paddleseg.core.train")
POISONED = 3  # the training forward (= iteration) that meets a NaN


def _poison(monkeypatch, where):
    """From the built model on, training forward number POISONED gets a NaN pixel in its input image
    (``where="input"``) or a NaN activation out of the backbone's first stage (``where="activation"``)."""
    build, calls = train_cli.build, []

    def input_nan(layer, inputs):
        if not layer.training:
            return None  # paddle.flops and evaluation run in eval mode
        calls.append(1)
        if len(calls) != POISONED:
            return None
        images = inputs[0].numpy().copy()
        images[0, 0, 5, 7] = np.nan
        return (paddle.to_tensor(images),)

    def activation_nan(layer, inputs, output):
        if not layer.training:
            return None
        calls.append(1)
        return output * float("nan") if len(calls) == POISONED else None

    def keep(builder, what, path):
        built = build(builder, what, path)
        if what == "model" and where == "input":
            built.register_forward_pre_hook(input_nan)
        elif what == "model":
            built.backbone.block1[0].register_forward_post_hook(activation_nan)
        return built

    monkeypatch.setattr(train_cli, "build", keep)
    return calls


@pytest.mark.parametrize("where", ["input", "activation"])
def test_nan_born_in_the_forward_leaves_the_model_as_it_was(where, tiny_config, tmp_path, caplog, monkeypatch,
                                                            registered):
    calls = _poison(monkeypatch, where)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        train(str(tiny_config), save_dir=str(out), iters=POISONED, save_interval=1, seed=0,
              divergence=DivergenceOptions(patience=2))  # before the fix: iter_3 refused (NaN running mean)
    assert len(calls) >= POISONED
    skipped = [r.getMessage() for r in caplog.records if "update skipped" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].startswith(f"iteration {POISONED}: non-finite "), skipped
    before = paddle.load(str(out / f"iter_{POISONED - 1}" / "model.pdparams"))
    after = paddle.load(str(out / f"iter_{POISONED}" / "model.pdparams"))
    assert before.keys() == after.keys()
    changed = [k for k in before if not np.array_equal(before[k].numpy(), after[k].numpy())]
    assert changed == []  # weights (update skipped) and running statistics (restored) alike
    first = paddle.load(str(out / "iter_1" / "model.pdparams"))
    assert not np.array_equal(first["linear_fuse._batch_norm._mean"].numpy(),
                              before["linear_fuse._batch_norm._mean"].numpy())  # they do move when all is well
