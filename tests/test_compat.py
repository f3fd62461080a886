"""Each PaddleSeg-on-Paddle-3 fix: the original code fails here, the fixed code works."""
import importlib
import os

import numpy as np
import paddle
import pytest

from paddle_segformer.integration import compat


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
                                     "dataloader_errors", "config_driven_datasets", "legacy_config", "poly_defaults"}


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


def _schedule_config(tmp_path, schedule: dict, iters: int = 3):
    import yaml

    dic = {"batch_size": 2, "iters": iters, "model": {"type": "SegFormer_B0", "num_classes": 4},
           "train_dataset": {"type": "Dataset", "dataset_root": str(tmp_path), "train_path": "x.txt",
                             "num_classes": 4, "mode": "train", "transforms": [{"type": "Normalize"}]},
           "optimizer": {"type": "AdamW"}, "loss": {"types": [{"type": "CrossEntropyLoss"}], "coef": [1]}}
    dic.update(schedule)
    path = tmp_path / "schedule.yml"
    path.write_text(yaml.safe_dump(dic), encoding="utf-8")
    return str(path)


def _rates(scheduler, n):
    rates = []
    for _ in range(n):
        rates.append(scheduler.last_lr)
        scheduler.step()
    return rates


def test_polynomial_decay_defaults_original_rises_fixed_decays_to_zero(tmp_path):
    from paddleseg.cvlibs import Config, SegBuilder

    path = _schedule_config(tmp_path, {"lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5,
                                                        "power": 1}})
    unpatched = _rates(compat.ORIGINALS["poly_defaults"].func(SegBuilder(Config(path))), 3)
    assert unpatched[2] > unpatched[1] > unpatched[0]  # 2.8 on its own: 6e-5 climbs towards 1e-4
    np.testing.assert_allclose(unpatched, [6e-5, 7.3333e-5, 8.6667e-5], rtol=1e-4)
    fixed = _rates(SegBuilder(Config(path)).lr_scheduler, 4)
    np.testing.assert_allclose(fixed, [6e-5, 4e-5, 2e-5, 0.0], atol=1e-12)  # 2.4-2.7: decays to 0
    unset = _schedule_config(tmp_path, {"lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5}})
    np.testing.assert_allclose(_rates(SegBuilder(Config(unset)).lr_scheduler, 2), [6e-5, 6e-5 * (2 / 3) ** 0.9])


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


def test_paddleseg_builder_sizes_a_geotiff_model_original_fails(tmp_path, monkeypatch, registered):
    """README: ``SegBuilder(Config(path)).model`` with PaddleSeg's own builder, for the GeoTIFF example config."""
    from paddleseg.cvlibs import Config, SegBuilder

    from paddle_segformer.models.segformer import SegFormer

    from .conftest import CONFIGS

    path = str(CONFIGS / "geotiff" / "segformer_b0_rgbn.yml")
    builder = SegBuilder(Config(path))
    model = builder.model
    assert isinstance(model, SegFormer) and model.num_classes == 4 and model.backbone.in_channels == 4
    assert builder.loss["types"][0].ignore_index == 255
    monkeypatch.setattr(SegBuilder, "train_dataset_class", compat.ORIGINALS["config_driven_datasets"])
    # PaddleSeg 2.8 on its own: the class's facts are None, the encoder is built with in_channels None
    with pytest.raises(RuntimeError, match=r"(?s)MixVisionTransformer_B0 object.*NoneType"):
        SegBuilder(Config(path)).model
