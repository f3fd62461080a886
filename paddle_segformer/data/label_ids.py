"""Label ids other than the model's class ids in written label PNGs (``predict.py --label_ids``). No paddle.

``cityscapes``: trainIds 0..18 -> the official labelIds (7, 8, 11, ..., 33), which the official evaluation
script (``cityscapesscripts``' ``evalPixelLevelSemanticLabeling``) and the benchmark server read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import cityscapes_labels


@dataclass(frozen=True)
class LabelIds:
    """How class ids become written ids: ``table`` (256,) uint8 class id -> written id, ``palette`` (256, 3)
    uint8 colours of the written ids (so the PNG stays viewable)."""

    name: str
    num_classes: int
    table: np.ndarray
    palette: np.ndarray

    def encode(self, label: np.ndarray) -> np.ndarray:
        """(H, W) class ids -> (H, W) uint8 written ids."""
        return self.table[np.asarray(label).astype(np.uint8, copy=False)]


SCHEMES = ("cityscapes",)


def label_ids(name: str, num_classes: int) -> LabelIds:
    """The scheme ``name`` for a model of ``num_classes`` classes; ValueError if it does not fit."""
    if name != "cityscapes":
        raise ValueError(f"--label_ids must be one of {', '.join(SCHEMES)}, got {name!r}")
    if num_classes != cityscapes_labels.NUM_CLASSES:
        raise ValueError(f"--label_ids cityscapes needs a model of {cityscapes_labels.NUM_CLASSES} classes "
                         f"(the trainIds); this one has {num_classes}")
    return LabelIds(name, num_classes, cityscapes_labels.TRAIN_TO_LABEL, cityscapes_labels.label_id_palette())
