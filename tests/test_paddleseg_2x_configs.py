"""Configs of the PaddleSeg 2.4-2.7 corpus train two iterations with the rates 2.4-2.7 gave, then predict."""
import logging
import re

import numpy as np
import pytest
from PIL import Image

from paddle_segformer.cli.predict import predict
from paddle_segformer.cli.train import train
from paddle_segformer.inference.options import RuntimeOptions

from .conftest import LEGACY_CONFIGS

LR = re.compile(r"iter: (\d+)/\d+, loss: [0-9.]+, lr: ([0-9.]+)")


def poly(base: float, epoch: int, steps: int, power: float, end_lr: float = 0.0) -> float:
    """Paddle's PolynomialDecay formula: the reference the logged rates are held to."""
    return (base - end_lr) * (1 - min(epoch, steps) / steps) ** power + end_lr


# Rates of iterations 1 and 2 of a 2-iteration run, as PaddleSeg 2.4-2.7 computed them (iteration i
# uses epoch i - 1; decay over the iterations after any warm-up).
EXPECTED = {
    "segformer_b0_parcels_legacy.yml": [0.01, poly(0.01, 1, 2, 0.9)],  # learning_rate block: poly 0.9, end 0
    "segformer_b0_parcels.yml": [6e-5, poly(6e-5, 1, 2, 1.0)],  # power 1, end_lr left out -> 0
    "segformer_b1_parcels.yml": [6e-5, poly(6e-5, 1, 2, 0.9)],  # neither power nor end_lr -> 0.9, 0
    "segformer_b2_parcels_backbone.yml": [1e-6, poly(6e-5, 0, 1, 1.0)],  # 1 warm-up iteration, then 6e-5
    "segformerb3.yml": [6e-5, poly(6e-5, 1, 2, 1.0)],  # the article's config: 6e-5 -> 3e-5, not 8e-5
}


def _opts(root):
    return [f"train_dataset.dataset_root={root}", f"train_dataset.train_path={root / 'train.txt'}",
            f"val_dataset.dataset_root={root}", f"val_dataset.val_path={root / 'val.txt'}"]


def test_every_corpus_config_has_expected_rates():
    assert sorted(EXPECTED) == sorted(p.name for p in LEGACY_CONFIGS.glob("*.yml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_trains_with_2_4_rates_and_predicts(name, tiny_data, tmp_path, capsys, caplog, registered):
    config = str(LEGACY_CONFIGS / name)
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        train(config, save_dir=str(tmp_path / "out"), iters=2, batch_size=2, log_iters=1, save_interval=2, seed=0,
              opts=_opts(tiny_data))
    logged = [(int(i), float(lr)) for i, lr in LR.findall(capsys.readouterr().out)]
    assert [i for i, _ in logged] == [1, 2]
    np.testing.assert_allclose([lr for _, lr in logged], EXPECTED[name], atol=6e-7)  # printed with 6 decimals
    schedule = [r.getMessage() for r in caplog.records if r.getMessage().startswith("learning rate (")]
    assert len(schedule) == 1 and "iteration 1 (first)" in schedule[0]
    assert not [r for r in caplog.records if "RISES" in r.getMessage()]
    summary = predict(config, str(tmp_path / "out" / "iter_2"), str(tiny_data / "img_testA"),
                      save_dir=str(tmp_path / "pred"), runtime=RuntimeOptions(backend="paddle"), opts=_opts(tiny_data))
    assert len(summary.written) == 3 and not summary.failed
    label = np.asarray(Image.open(summary.written[0]))  # palette PNG: pixel values are class ids
    assert label.shape == (64, 64) and label.max() <= 3
