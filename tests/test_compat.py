"""Each PaddleSeg-on-Paddle-3 fix: the original code fails here, the fixed code works."""
import importlib
import os

import numpy as np
import paddle
import pytest

from paddle_segformer.integration import compat

from .test_builder import _rates, _schedule_config


@pytest.fixture(autouse=True)
def _applied():
    compat.apply()


def _ce_inputs():
    from paddleseg.models.losses import CrossEntropyLoss

    logit = paddle.randn([2, 3, 8, 8])
    label = paddle.randint(0, 3, [2, 8, 8]).astype("int64")
    label[0, 0, 0] = 255
    return CrossEntropyLoss, logit, label


def test_cross_entropy_original_fails_fixed_matches_reference():
    loss_cls, logit, label = _ce_inputs()
    loss_fn = loss_cls()
    with pytest.raises(TypeError, match="Type promotion"):
        compat.ORIGINALS["cross_entropy_dtype"](loss_fn, logit, label, None,
                                                paddle.ones(label.shape, dtype="float32"))
    value = float(loss_fn(logit, label))
    ref = paddle.nn.functional.cross_entropy(logit.transpose([0, 2, 3, 1]), label, ignore_index=255)
    assert abs(value - float(ref)) < 1e-5


def test_weighted_cross_entropy_matches_reference():
    loss_cls, logit, label = _ce_inputs()
    weight = [1.0, 2.0, 0.5]
    value = float(loss_cls(weight=weight)(logit, label))
    ref = paddle.nn.functional.cross_entropy(logit.transpose([0, 2, 3, 1]), label, ignore_index=255,
                                             weight=paddle.to_tensor(weight))  # weighted mean
    assert abs(value - float(ref)) < 1e-5


def _paddleseg_train(config, save_dir, iters=1):
    """PaddleSeg's own training loop (``paddleseg.core.train.train``) on the tiny tiles, one step a log line,
    a checkpoint every step."""
    from paddle_segformer.integration.config import load_config

    module = importlib.import_module("paddleseg.core.train")
    paddle.seed(0)
    _, builder = load_config(str(config))
    module.train(builder.model, builder.train_dataset, optimizer=builder.optimizer, save_dir=str(save_dir),
                 iters=iters, batch_size=2, save_interval=1, log_iters=1, losses=builder.loss)


def test_train_loss_logging_original_fails_in_paddleseg_train_fixed_trains(tiny_config, tmp_path, monkeypatch,
                                                                            capsys, registered):
    _paddleseg_train(tiny_config, tmp_path / "fixed")
    assert "iter: 1/1, loss: " in capsys.readouterr().out
    module = importlib.import_module("paddleseg.core.train")
    monkeypatch.setattr(module, "loss_computation", compat.ORIGINALS["train_loss_0d"])
    with pytest.raises(IndexError):  # core/train.py's logging indexes the 0-D losses: l[0]
        _paddleseg_train(tiny_config, tmp_path / "unfixed")


def test_calculate_area_original_fails_fixed_counts():
    from paddleseg.utils import metrics

    pred = paddle.to_tensor(np.array([[[0, 1], [1, 2]]]), dtype="int32")
    label = paddle.to_tensor(np.array([[[0, 1], [2, 255]]]), dtype="int64")
    with pytest.raises(ValueError, match="axis"):
        compat.ORIGINALS["calculate_area_0d"](pred, label, 3)
    inter, pred_area, label_area = metrics.calculate_area(pred, label, 3)
    assert inter.numpy().tolist() == [1, 1, 0]
    assert pred_area.numpy().tolist() == [1, 2, 0]
    assert label_area.numpy().tolist() == [1, 1, 1]


def test_checkpoint_saves_are_atomic(tiny_config, tmp_path, monkeypatch, registered):
    """A save interrupted inside PaddleSeg's training loop: the fixed loop leaves nothing under the final
    name, the original one leaves a truncated model.pdparams that cannot be loaded."""
    module = importlib.import_module("paddleseg.core.train")
    real_save = paddle.save

    def interrupted_save(obj, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the process is stopped mid-write

    monkeypatch.setattr(paddle, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        _paddleseg_train(tiny_config, tmp_path / "fixed")
    assert os.listdir(tmp_path / "fixed" / "iter_1") == []  # no truncated file, no temporary
    monkeypatch.setattr(module, "paddle", compat.ORIGINALS["atomic_checkpoints"])
    with pytest.raises(KeyboardInterrupt):
        _paddleseg_train(tiny_config, tmp_path / "unfixed")
    monkeypatch.setattr(paddle, "save", real_save)
    assert os.listdir(tmp_path / "unfixed" / "iter_1") == ["model.pdparams"]
    with pytest.raises(Exception):
        paddle.load(str(tmp_path / "unfixed" / "iter_1" / "model.pdparams"))  # unpatched: truncated checkpoint


def test_apply_is_idempotent():
    assert compat.apply() == []
    assert set(compat.applied()) == {"cross_entropy_dtype", "train_loop", "calculate_area_0d",
                                     "dataloader_errors", "legacy_config"}


class _Failing(paddle.io.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, idx):
        if idx == 2:
            raise ValueError("sample 2 is broken")
        return np.zeros(3, "float32")


def _drain(result, iterators=None):
    try:
        iterator = iter(paddle.io.DataLoader(_Failing(), batch_size=1, num_workers=0))
        if iterators is not None:
            iterators.append(iterator)
        for _ in iterator:
            pass
    except ValueError as exc:
        result.append(str(exc))
    except SystemError:  # the queue killed by the test, below
        result.append("released")


def test_dataloader_error_reaches_the_consumer(monkeypatch):
    import threading

    from paddle.io.dataloader import dataloader_iter

    result = []
    _drain(result)  # fixed: the error arrives, nothing hangs
    assert result == ["sample 2 is broken"]
    loop, step = compat.ORIGINALS["dataloader_errors"]
    monkeypatch.setattr(dataloader_iter._DataLoaderIterSingleProcess, "_thread_loop", loop)
    monkeypatch.setattr(dataloader_iter._DataLoaderIterSingleProcess, "__next__", step)
    unfixed, iterators = [], []
    thread = threading.Thread(target=_drain, args=(unfixed, iterators), daemon=True)
    thread.start()
    thread.join(timeout=10)
    try:
        assert thread.is_alive() and unfixed == []  # unpatched Paddle: the consumer waits forever
    finally:  # release it: a thread left waiting in Paddle's queue aborts the interpreter at exit
        iterators[0]._blocking_queue.kill()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_learning_rate_block_original_refused_fixed_read(tmp_path, monkeypatch):
    from paddleseg.cvlibs import Config, SegBuilder

    path = _schedule_config(tmp_path, {"learning_rate": {"value": 0.01, "decay": {"type": "poly", "power": 0.9}},
                                       "optimizer": {"type": "sgd"}}, iters=4)
    cfg = Config(path)
    builder = SegBuilder(cfg)
    np.testing.assert_allclose(_rates(builder.lr_scheduler, 3), [0.01 * (1 - t / 4) ** 0.9 for t in range(3)])
    assert cfg.optimizer_cfg == {"type": "sgd", "momentum": 0.9}
    monkeypatch.setattr(Config, "_parse_from_yaml", compat.ORIGINALS["legacy_config"])
    with pytest.raises(RuntimeError, match="No lr_scheduler specified"):  # PaddleSeg 2.8 on its own
        Config(path)
