"""Synthetic parcel tiles in the competition's layout, for the demo and the tests. No paddle.

Classes: 0 farmland, 1 building, 2 forest, 3 other (soil, grass, water, roads, shadows);
255 marks unlabelled patches. The colour ranges of the classes overlap on purpose (brown fields
vs bare soil, green fields vs grass, grey roofs vs roads, dark forest vs water and shadows) and
every tile gets its own illumination, so a per-pixel colour rule cannot separate them: texture
(field stripes, forest grain), shape (rectangular roofs with cast shadows) and context decide.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

CLASS_NAMES = ("farmland", "building", "forest", "other")
IGNORE_INDEX = 255

# RGB base colours; shared ranges between classes are intentional.
_COLOURS = {
    0: [(120, 140, 70), (145, 120, 80), (105, 145, 85), (150, 140, 95)],  # fields: green / brown
    1: [(130, 130, 128), (150, 100, 80), (165, 160, 150), (110, 112, 118)],  # roofs
    2: [(65, 100, 55), (80, 115, 65), (70, 95, 70)],  # forest
    3: [(145, 122, 88), (102, 135, 82), (62, 82, 92), (122, 122, 116), (150, 140, 95)],  # other
}


def _smooth_noise(rng: np.random.Generator, shape: Tuple[int, int], sigma: float) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return noise / (noise.std() + 1e-6)


def _polygon(rng: np.random.Generator, size: int, scale: Tuple[float, float]) -> np.ndarray:
    cx, cy = rng.uniform(0, size, 2)
    radius = rng.uniform(*scale) * size
    angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(4, 7)))
    radii = radius * rng.uniform(0.6, 1.0, len(angles))
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    return pts.round().astype(np.int32)


def _colour(rng: np.random.Generator, cls: int) -> np.ndarray:
    base = np.array(_COLOURS[cls][rng.integers(len(_COLOURS[cls]))], np.float32)
    return base + rng.normal(0, 8, 3)


def make_tile(rng: np.random.Generator, size: int = 256) -> Tuple[np.ndarray, np.ndarray]:
    """One (H, W, 3) uint8 RGB tile and its (H, W) uint8 label."""
    img = np.zeros((size, size, 3), np.float32)
    label = np.full((size, size), 3, np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # "other" background: patches of soil / grass / water with smooth variation
    for _ in range(3):
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [_polygon(rng, size, (0.3, 0.8))], 1)
        img[mask > 0] = _colour(rng, 3)
    img[img.sum(-1) == 0] = _colour(rng, 3)
    img += 10 * _smooth_noise(rng, (size, size), 8)[..., None]
    # fields (stripes at a random angle and period) and forest (fine grain, dark speckles)
    for _ in range(rng.integers(1, 5)):
        cls = 0 if rng.random() < 0.55 else 2
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [_polygon(rng, size, (0.15, 0.45))], 1)
        region = mask > 0
        if cls == 0:
            theta, period = rng.uniform(0, np.pi), rng.uniform(5, 11)
            stripes = np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
            tex = _colour(rng, 0)[None, None] + 16 * stripes[..., None]
        else:
            grain = _smooth_noise(rng, (size, size), 1.2)
            tex = _colour(rng, 2)[None, None] + 22 * grain[..., None] - 25 * (grain < -1.0)[..., None]
        img[region] = tex[region]
        label[region] = cls
    # buildings: rectangles with a roof ridge and a shadow cast to the lower right (labelled other)
    shadow = rng.uniform(3, 6)
    for _ in range(rng.integers(0, 9)):
        w, h = rng.uniform(8, 30, 2)
        box = cv2.boxPoints(((rng.uniform(0, size), rng.uniform(0, size)), (w, h), rng.uniform(0, 90)))
        box = box.round().astype(np.int32)
        shade = np.zeros((size, size), np.uint8)
        cv2.fillPoly(shade, [box + np.int32(round(shadow))], 1)
        img[shade > 0] *= 0.45
        label[shade > 0] = 3
        roof = np.zeros((size, size), np.uint8)
        cv2.fillPoly(roof, [box], 1)
        img[roof > 0] = _colour(rng, 1)
        cv2.polylines(img, [box], True, (190, 190, 185), 1)
        label[roof > 0] = 1
    # roads: grey lines over everything (other)
    for _ in range(rng.integers(0, 3)):
        p1, p2 = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
        width = int(rng.integers(3, 7))
        road = np.zeros((size, size), np.uint8)
        cv2.line(road, tuple(int(v) for v in p1), tuple(int(v) for v in p2), 1, width)
        img[road > 0] = np.array((122, 122, 116), np.float32) + rng.normal(0, 6, 3)
        label[road > 0] = 3
    # unlabelled patches (not scored), tile illumination, sensor noise
    if rng.random() < 0.35:
        mask = np.zeros((size, size), np.uint8)
        cv2.ellipse(mask, (int(rng.uniform(0, size)), int(rng.uniform(0, size))),
                    (int(rng.uniform(10, 40)), int(rng.uniform(10, 40))), 0, 0, 360, 1, -1)
        label[mask > 0] = IGNORE_INDEX
    img = img * rng.uniform(0.8, 1.2) * rng.uniform(0.93, 1.07, 3) + rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), label


def write_dataset(root: str, n_train: int = 320, n_test: int = 16, size: int = 256, seed: int = 0,
                  jpeg_quality: int = 90) -> Dict[str, Path]:
    """Write ``img_train/T*.jpg``, ``lab_train/T*.png`` and ``img_testA/*.jpg`` under ``root``."""
    root_path = Path(root)
    folders = {name: root_path / name for name in ("img_train", "lab_train", "img_testA")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    quality = [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_quality]
    for i in range(n_train + n_test):
        img, label = make_tile(rng, size)
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        if i < n_train:
            cv2.imwrite(os.fspath(folders["img_train"] / f"T{i:06d}.jpg"), bgr, quality)
            cv2.imwrite(os.fspath(folders["lab_train"] / f"T{i:06d}.png"), label)
        else:
            cv2.imwrite(os.fspath(folders["img_testA"] / f"{i - n_train}.jpg"), bgr, quality)
    logger.info("wrote %d labelled and %d test tiles of %dx%d to %s", n_train, n_test, size, size, root)
    return folders
