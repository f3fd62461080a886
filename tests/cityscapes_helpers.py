"""Helpers for the Cityscapes tests: a generated mini-Cityscapes and configs of the recipe pointing at it."""
from pathlib import Path
from typing import Optional

import yaml

from .conftest import CONFIGS, OFFLINE_MODEL, _merge

RECIPE = CONFIGS / "cityscapes" / "segformer_b0_cityscapes_1024x1024.yml"


def write_mini_cityscapes(root: Path, frames_per_city: int = 2, seed: int = 0) -> Path:
    """Two cities per split, ``frames_per_city`` 96 x 192 frames each, official layout, labelIds only."""
    from paddle_segformer.data.synthetic_cityscapes import write_cityscapes

    return write_cityscapes(str(root), frames_per_city=frames_per_city, size=(96, 192), seed=seed)


def write_recipe_config(path: Path, data_root: Path, overrides: Optional[dict] = None) -> Path:
    """The B0 Cityscapes recipe on ``data_root``: 64 x 64 crops, sliding window 64 / stride 48, few iterations,
    from scratch (offline: the recipe's ImageNet weights are never read)."""
    cfg = {"_base_": str(RECIPE), "batch_size": 2, "iters": 6, "model": OFFLINE_MODEL,
           "train_dataset": {"dataset_root": str(data_root),
                             "transforms": [{"type": "RandomPaddingCrop", "crop_size": [64, 64]},
                                            {"type": "Normalize"}]},
           "val_dataset": {"dataset_root": str(data_root)},
           "test_config": {"crop_size": [64, 64], "stride": [48, 48]},
           "lr_scheduler": {"warmup_iters": 2}}
    path.write_text(yaml.safe_dump(_merge(cfg, overrides or {})), encoding="utf-8")
    return path
