"""The Cityscapes recipe: configs, weighted CE + Dice against numpy, warm-up + cosine, a short training run."""
import math
import re

import numpy as np
import paddle
import pytest

from paddle_segformer.data.cityscapes_labels import CLASS_NAMES
from paddle_segformer.engine.schedule import lr_at, summarize
from paddle_segformer.integration.config import load_config

from .cityscapes_helpers import write_mini_cityscapes, write_recipe_config
from .conftest import CONFIGS

ISSUE_WEIGHTS = {"road": 1.0, "sidewalk": 1.2, "building": 0.9, "wall": 1.5, "fence": 1.8, "pole": 1.3,
                 "traffic light": 2.0, "traffic sign": 1.7, "vegetation": 0.8, "terrain": 1.1, "sky": 0.7,
                 "person": 1.6, "rider": 2.2, "car": 0.9, "truck": 1.4, "bus": 1.9, "train": 2.5,
                 "motorcycle": 2.1, "bicycle": 1.3}
RECIPES = sorted((CONFIGS / "cityscapes").glob("segformer_b*_cityscapes_1024x1024.yml"))


def test_a_recipe_for_every_variant():
    assert [p.name for p in RECIPES] == [f"segformer_b{i}_cityscapes_1024x1024.yml" for i in range(6)]
    assert all(len(p.read_text(encoding="utf-8").splitlines()) <= 10 for p in RECIPES)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_config(path, registered):  # tests/test_configs.py builds each model (19 classes)
    cfg, builder = load_config(str(path))
    variant = path.name.split("_")[1].upper()
    assert cfg.model_cfg["backbone"]["type"] == f"MixVisionTransformer_{variant}"
    assert builder.train_dataset_class.NUM_CLASSES == 19 and cfg.dic["train_dataset"]["type"] == "CityscapesDataset"
    mixed = builder.loss["types"][0]
    assert type(mixed).__name__ == "MixedLoss" and mixed.coef == [0.6, 0.4] and builder.loss["coef"] == [1]
    ce, dice = mixed.losses
    assert type(ce).__name__ == "CrossEntropyLoss" and type(dice).__module__ == "paddle_segformer.models.losses"
    assert ce.ignore_index == dice.ignore_index == 255
    np.testing.assert_allclose(ce.weight.numpy(), [ISSUE_WEIGHTS[n] for n in CLASS_NAMES])
    crop = [t for t in cfg.dic["train_dataset"]["transforms"] if t["type"] == "RandomPaddingCrop"]
    assert crop[0]["crop_size"] == [1024, 1024]
    assert cfg.test_config == {"is_slide": True, "crop_size": [1024, 1024], "stride": [768, 768]}


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def numpy_recipe_loss(z, y, weight, ignore=255):
    """0.6 * class-weighted CE + 0.4 * soft Dice (PaddleSeg's: per image and class, smooth 1), ignored pixels out."""
    n, c = z.shape[:2]
    p, valid = _softmax(z.astype(np.float64)), y != ignore
    t = np.where(valid, y, 0)
    nll = -np.log(np.take_along_axis(p, t[:, None], 1)[:, 0])
    w = weight[t] * valid
    ce = (w * nll).sum() / w.sum()
    onehot = np.eye(c)[t].transpose(0, 3, 1, 2) * valid[:, None]
    pm = p * valid[:, None]
    inter, card = (pm * onehot).reshape(n, c, -1).sum(-1), (pm + onehot).reshape(n, c, -1).sum(-1)
    dice = (1 - (2 * inter + 1) / (card + 1 + 1e-8)).mean(0).mean()
    return 0.6 * ce + 0.4 * dice


def _example(seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, (2, 19, 6, 7)).astype(np.float32)
    y = rng.integers(0, 19, (2, 6, 7))
    y[rng.random(y.shape) < 0.25] = 255
    return z, y


def test_weighted_ce_plus_dice_matches_numpy(registered):
    from paddleseg.core.train import loss_computation

    _, builder = load_config(str(RECIPES[0]))
    z, y = _example()
    weight = np.array([ISSUE_WEIGHTS[n] for n in CLASS_NAMES])
    labels = paddle.to_tensor(y)
    logits = paddle.to_tensor(z, stop_gradient=False)
    parts = loss_computation([logits], labels, None, builder.loss)
    total = paddle.add_n(parts)
    assert float(total) == pytest.approx(numpy_recipe_loss(z, y, weight), rel=1e-5)
    np.testing.assert_array_equal(labels.numpy(), y)  # the labels are left as they were
    total.backward()
    assert np.isfinite(logits.grad.numpy()).all()
    # ignored pixels change nothing: other logits there give the same loss
    z2 = z.copy()
    z2[np.broadcast_to((y == 255)[:, None], z.shape)] = 7.0
    again = paddle.add_n(loss_computation([paddle.to_tensor(z2)], paddle.to_tensor(y), None, builder.loss))
    assert float(again) == pytest.approx(float(total), rel=1e-6)


def test_dice_first_no_longer_turns_ignored_pixels_into_class_0(registered):
    from paddleseg.models.losses import CrossEntropyLoss, MixedLoss
    from paddleseg.models.losses.dice_loss import DiceLoss as PaddleSegDiceLoss

    from paddle_segformer.models.losses import DiceLoss

    z, y = _example(1)
    weight = [ISSUE_WEIGHTS[n] for n in CLASS_NAMES]
    mutated = paddle.to_tensor(y)
    PaddleSegDiceLoss()(paddle.to_tensor(z), mutated)
    assert (mutated.numpy() == 255).sum() == 0 and (y == 255).sum() > 0  # why the wrapper exists
    mixed = MixedLoss([DiceLoss(), CrossEntropyLoss(weight=weight)], [0.4, 0.6])
    total = sum(float(v) for v in mixed(paddle.to_tensor(z), paddle.to_tensor(y)))
    assert total == pytest.approx(numpy_recipe_loss(z, y, np.array(weight)), rel=1e-5)


def _closed_form(epoch, warmup, total, peak=6e-5, start=1e-6):
    if epoch < warmup:
        return start + (peak - start) * epoch / warmup
    return peak * (1 + math.cos(math.pi * (epoch - warmup) / (total - warmup))) / 2


def test_warmup_then_cosine_at_key_iterations(registered):
    cfg, builder = load_config(str(RECIPES[0]))
    scheduler, iters, warmup = builder.lr_scheduler, cfg.iters, 1855
    assert (iters, scheduler.warmup_steps, scheduler.learning_rate.T_max) == (55650, warmup, 55650 - warmup)
    # iteration i trains with the rate at epoch i - 1 (paddle_segformer.engine.schedule)
    middle = warmup + (iters - warmup) // 2 + 1
    for it in (1, warmup // 2, warmup + 1, middle, iters):
        assert lr_at(scheduler, it - 1) == pytest.approx(_closed_form(it - 1, warmup, iters), rel=1e-9), it
    assert lr_at(scheduler, 0) == pytest.approx(1e-6) and lr_at(scheduler, warmup) == pytest.approx(6e-5)
    assert lr_at(scheduler, middle - 1) == pytest.approx(3e-5, rel=1e-4)
    assert lr_at(scheduler, iters - 1) < 1e-13  # one step before the end of the cosine: practically 0
    summary = summarize(scheduler, iters)
    assert "1855-iteration LinearWarmup, then CosineAnnealingDecay over 53795 iterations to 0" in summary.line()
    assert summary.rise() is None


def test_training_loop_follows_the_schedule(registered):
    _, builder = load_config(str(RECIPES[0]), iters=40, opts=["lr_scheduler.warmup_iters=8"])
    scheduler = builder.lr_scheduler
    seen = []
    for _ in range(40):  # as paddleseg.core.train: use the rate, then step
        seen.append(scheduler.last_lr)
        scheduler.step()
    assert seen == pytest.approx([_closed_form(e, 8, 40) for e in range(40)], rel=1e-9, abs=1e-15)


LOSS = re.compile(r"iter: (\d+)/\d+, loss: ([0-9.]+)")


@pytest.mark.slow  # about 10 s on an idle 2-core CPU (45 s under load)
def test_short_training_on_mini_cityscapes_lowers_the_loss(tmp_path, capsys, registered):
    from paddle_segformer.cli.train import train

    root = write_mini_cityscapes(tmp_path / "cs")
    half = [{"type": "Resize", "target_size": [96, 48]}, {"type": "Normalize"}]  # whole frames at half size
    cfg = write_recipe_config(tmp_path / "recipe.yml", root, {"train_dataset": {"transforms": half}})
    train(str(cfg), save_dir=str(tmp_path / "out"), iters=30, batch_size=2, learning_rate=0.003,
          log_iters=5, save_interval=30, seed=0)
    losses = [float(v) for _, v in LOSS.findall(capsys.readouterr().out)]
    assert len(losses) == 6 and losses[-1] < 0.75 * losses[0], losses


def test_head_lr_x10_and_no_decay_on_norms_and_biases(registered):
    from paddle_segformer.engine.param_groups import undecayed_names

    _, builder = load_config(str(RECIPES[0]), pretrained=False)  # offline: the ImageNet URL is not read
    model, optimizer = builder.model, builder.optimizer
    encoder = {id(p) for p in model.backbone.parameters()}
    mults = {name: p.optimize_attr["learning_rate"] for name, p in model.named_parameters()}
    trainable = [(n, p) for n, p in model.named_parameters() if not p.stop_gradient]  # not BatchNorm statistics
    assert all(mults[n] == (1.0 if id(p) in encoder else 10.0) for n, p in trainable)
    decays = {name: optimizer._apply_decay_param_fun(p.name) for name, p in model.named_parameters()}
    assert not decays["backbone.block1.0.norm1.weight"] and not decays["linear_fuse._batch_norm.weight"]
    assert not decays["backbone.block1.0.attn.q.bias"] and not decays["linear_pred.bias"]
    assert decays["backbone.block1.0.attn.q.weight"] and decays["linear_pred.weight"]
    assert decays["backbone.patch_embed1.proj.weight"] and not decays["backbone.patch_embed1.norm.weight"]
    assert len(undecayed_names(model)) == sum(not v for v in decays.values())
