"""The Cityscapes label table: labelIds of the official annotations -> the 19 trainIds, names, palette.

No paddle, no ``cityscapesscripts`` (a test extra): the table below is the official one
(``cityscapesscripts.helpers.labels``, which a test compares it with). labelIds 0..33 are what the
``*_gtFine_labelIds.png`` files hold; the 19 evaluated classes become trainIds 0..18 and every other
id (void, ignored-in-evaluation classes, ids that do not exist) becomes :data:`IGNORE_INDEX`.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

IGNORE_INDEX = 255
NUM_LABEL_IDS = 34  # labelIds 0..33 (license plate, -1, never appears in the PNGs)

# (labelId, name, RGB) of the 19 evaluated classes, in trainId order.
_EVALUATED = (
    (7, "road", (128, 64, 128)), (8, "sidewalk", (244, 35, 232)), (11, "building", (70, 70, 70)),
    (12, "wall", (102, 102, 156)), (13, "fence", (190, 153, 153)), (17, "pole", (153, 153, 153)),
    (19, "traffic light", (250, 170, 30)), (20, "traffic sign", (220, 220, 0)),
    (21, "vegetation", (107, 142, 35)), (22, "terrain", (152, 251, 152)), (23, "sky", (70, 130, 180)),
    (24, "person", (220, 20, 60)), (25, "rider", (255, 0, 0)), (26, "car", (0, 0, 142)),
    (27, "truck", (0, 0, 70)), (28, "bus", (0, 60, 100)), (31, "train", (0, 80, 100)),
    (32, "motorcycle", (0, 0, 230)), (33, "bicycle", (119, 11, 32)),
)
TRAIN_LABEL_IDS: Tuple[int, ...] = tuple(label_id for label_id, _, _ in _EVALUATED)
CLASS_NAMES: Tuple[str, ...] = tuple(name for _, name, _ in _EVALUATED)
PALETTE: Tuple[Tuple[int, int, int], ...] = tuple(colour for _, _, colour in _EVALUATED)
NUM_CLASSES = len(TRAIN_LABEL_IDS)

# labelIds that are void or ignored in evaluation, with the official colours of those that have one
# (the ids not listed are black); used to colour labelId images, never to train.
VOID_COLOURS = {5: (111, 74, 0), 6: (81, 0, 81), 9: (250, 170, 160), 10: (230, 150, 140), 14: (180, 165, 180),
                15: (150, 100, 100), 16: (150, 120, 90), 18: (153, 153, 153), 29: (0, 0, 90), 30: (0, 0, 110)}


def _label_to_train() -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, np.uint8)
    table[list(TRAIN_LABEL_IDS)] = np.arange(NUM_CLASSES, dtype=np.uint8)
    table.setflags(write=False)
    return table


def _train_to_label() -> np.ndarray:
    table = np.zeros(256, np.uint8)  # anything that is not a trainId (the ignore index included) -> 0 unlabeled
    table[:NUM_CLASSES] = TRAIN_LABEL_IDS
    table.setflags(write=False)
    return table


# The one lookup table of each direction: (256,) uint8, indexed by an 8-bit id.
LABEL_TO_TRAIN = _label_to_train()
TRAIN_TO_LABEL = _train_to_label()


def _lookup(table: np.ndarray, ids: np.ndarray, what: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.dtype != np.uint8:
        if ids.size and (ids.min() < 0 or ids.max() > 255):
            raise ValueError(f"{what} must lie in 0..255, got {int(ids.min())}..{int(ids.max())}")
        ids = ids.astype(np.uint8)
    return table[ids]


def to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """(H, W) labelIds -> (H, W) uint8 trainIds 0..18, :data:`IGNORE_INDEX` for every other id."""
    return _lookup(LABEL_TO_TRAIN, label_ids, "labelIds")


def to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """(H, W) trainIds 0..18 -> (H, W) uint8 official labelIds (the ignore index -> 0, unlabeled)."""
    return _lookup(TRAIN_TO_LABEL, train_ids, "trainIds")


def label_id_palette() -> np.ndarray:
    """(256, 3) uint8 colours indexed by labelId (the official colours; unknown ids black)."""
    table = np.zeros((256, 3), np.uint8)
    for label_id, colour in zip(TRAIN_LABEL_IDS, PALETTE):
        table[label_id] = colour
    for label_id, colour in VOID_COLOURS.items():
        table[label_id] = colour
    return table
