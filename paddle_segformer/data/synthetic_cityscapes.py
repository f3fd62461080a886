"""A mini-Cityscapes in the official layout, for tests and demos (Cityscapes itself cannot be downloaded
here). No paddle.

Small street-like frames: sky, buildings, vegetation, road with sidewalks, cars, people, poles with
signs, drawn in labelIds, with void ids (unlabeled, ego vehicle, out of roi, static, dynamic, ground,
parking, polegroup) as the official annotations have them. Some classes never appear (train,
motorcycle, bicycle, wall, bus, ...). Pixel colours follow the class's official colour with noise and
per-frame illumination, so a small model can learn them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

from ..io.atomic import atomic_write_bytes
from ..io.image import encode_png
from .cityscapes_labels import label_id_palette
from .cityscapes_layout import IMAGE_SUFFIX, LABEL_IDS_SUFFIX

logger = logging.getLogger(__name__)

CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt", "lindau")}
NEVER_DRAWN = (12, 19, 25, 27, 28, 31, 32, 33)  # wall, traffic light, rider, truck, bus, train, motorcycle, bicycle
# labelIds used, by role: road 7, sidewalk 8, building 11, fence 13, pole 17, sign 20, vegetation 21,
# terrain 22, sky 23, person 24, car 26; void: 0 unlabeled, 1 ego vehicle, 3 out of roi, 4 static,
# 5 dynamic, 6 ground, 9 parking, 18 polegroup.


def _rect(label: np.ndarray, value: int, x0: float, y0: float, x1: float, y1: float) -> None:
    h, w = label.shape
    label[int(max(0, y0)):int(min(h, y1)), int(max(0, x0)):int(min(w, x1))] = value


def make_label_ids(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One (H, W) uint8 labelId map of a street scene."""
    label = np.zeros((height, width), np.uint8)
    horizon = int(height * rng.uniform(0.35, 0.5))
    label[:horizon] = 23  # sky
    x = 0  # buildings with a ragged roof line
    while x < width:
        bw, top = int(rng.integers(width // 10, width // 4)), int(horizon * rng.uniform(0.1, 0.7))
        _rect(label, 11, x, top, x + bw, horizon)
        x += bw + int(rng.integers(0, width // 12))
    for _ in range(int(rng.integers(1, 4))):  # trees
        cv2.ellipse(label, (int(rng.uniform(0, width)), horizon), (int(rng.uniform(6, width / 8)),
                    int(rng.uniform(4, horizon / 2))), 0, 0, 360, 21, -1)
    label[horizon:] = 7  # road, sidewalks and terrain at the sides
    side = int(width * rng.uniform(0.12, 0.25))
    _rect(label, 8, 0, horizon, side, height)
    _rect(label, 8, width - side, horizon, width, height)
    _rect(label, 22, 0, horizon, side // 3, height)
    _rect(label, 13, width - side, horizon, width - side + 2, height * 0.8)  # a fence along the right sidewalk
    _rect(label, 9, side, height * 0.6, side + width * 0.08, height * 0.8)  # parking (void)
    for _ in range(int(rng.integers(1, 4))):  # cars
        cx, cy = rng.uniform(side, width - side), rng.uniform(horizon + 4, height * 0.85)
        cw = width * rng.uniform(0.08, 0.16)
        _rect(label, 26, cx - cw / 2, cy - cw / 3, cx + cw / 2, cy)
    for _ in range(int(rng.integers(1, 4))):  # people on the sidewalks
        px = rng.uniform(0, side) if rng.random() < 0.5 else rng.uniform(width - side, width)
        py = rng.uniform(horizon, height * 0.8)
        _rect(label, 24, px, py - height * 0.12, px + max(2, width * 0.012), py)
    for px in rng.uniform(side * 0.5, side, int(rng.integers(1, 3))):  # poles with a sign
        _rect(label, 17, px, horizon * 0.5, px + 2, height * 0.75)
        _rect(label, 20, px - 3, horizon * 0.5, px + 5, horizon * 0.5 + 6)
    _rect(label, 18, width - side * 0.5, horizon * 0.6, width - side * 0.5 + 3, height * 0.7)  # polegroup
    for value in (4, 5, 6):  # static, dynamic, ground blobs
        cv2.circle(label, (int(rng.uniform(0, width)), int(rng.uniform(horizon, height))),
                   int(rng.integers(2, 6)), value, -1)
    _rect(label, 0, 0, horizon - 3, width * 0.05, horizon + 3)  # unlabeled
    _rect(label, 1, 0, height * 0.93, width, height)  # ego vehicle
    label[:2], label[:, :2], label[:, -2:] = 3, 3, 3  # out of roi at the borders
    return label


def instance_ids(label_ids: np.ndarray) -> np.ndarray:
    """(H, W) uint16 in the official ``*_gtFine_instanceIds.png`` encoding: labelId * 1000 + instance number for
    the classes with instances (person, car: connected regions here), the labelId elsewhere."""
    out = label_ids.astype(np.uint16)
    for label_id in (24, 26):
        count, regions = cv2.connectedComponents((label_ids == label_id).astype(np.uint8))
        for k in range(1, count):
            out[regions == k] = label_id * 1000 + k - 1
    return out


def render(rng: np.random.Generator, label_ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB picture of a labelId map: class colours, texture, illumination, noise."""
    colours = label_id_palette().astype(np.float32)
    colours[[0, 1, 2, 3, 4]] = [(40, 40, 40), (60, 60, 70), (0, 0, 0), (20, 20, 20), (90, 80, 70)]
    img = colours[label_ids] * rng.uniform(0.75, 1.15) + rng.normal(0, 10, label_ids.shape + (3,))
    blur = cv2.GaussianBlur(rng.standard_normal(label_ids.shape).astype(np.float32), (0, 0), 3)
    img += 12 * blur[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    """PNG bytes through OpenCV (BGR images, 16-bit single-band maps)."""
    ok, data = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"cannot encode a {array.dtype} array of shape {array.shape} as PNG")
    return data.tobytes()


def write_cityscapes(root: str, frames_per_city: int = 2, size: Tuple[int, int] = (96, 192), seed: int = 0,
                     cities: Dict[str, Sequence[str]] = CITIES) -> Path:
    """Write ``leftImg8bit/{split}/<city>/*_leftImg8bit.png`` and ``gtFine/{split}/<city>/*_gtFine_labelIds.png``
    (with ``*_gtFine_instanceIds.png``, which the official evaluation script reads too) under ``root``
    (``size`` = (height, width)); returns the root."""
    root_path = Path(root)
    rng = np.random.default_rng(seed)
    count = 0
    for split, names in cities.items():
        for city in names:
            for i in range(frames_per_city):
                name = f"{city}_{i:06d}_{19 + 10 * i:06d}"
                label = make_label_ids(rng, *size)
                bgr = cv2.cvtColor(render(rng, label), cv2.COLOR_RGB2BGR)
                atomic_write_bytes(root_path / "leftImg8bit" / split / city / f"{name}{IMAGE_SUFFIX}", _png(bgr))
                gt = root_path / "gtFine" / split / city
                atomic_write_bytes(gt / f"{name}{LABEL_IDS_SUFFIX}", encode_png(label))
                atomic_write_bytes(gt / f"{name}_gtFine_instanceIds.png", _png(instance_ids(label)))  # 16-bit
                count += 1
    logger.info("wrote a mini-Cityscapes of %d frames of %dx%d to %s", count, size[1], size[0], root)
    return root_path
