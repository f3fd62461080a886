"""Palettes, pseudo-colour label images and overlays (numpy; PaddleSeg's colour map loaded on first use)."""
from __future__ import annotations

from typing import List, Optional

import numpy as np

IGNORE_COLOUR = (0, 0, 0)


def palette(colours: Optional[List[tuple]] = None, ignore_index: int = 255) -> np.ndarray:
    """(256, 3) uint8 palette: PaddleSeg's default colour map (the VOC bit-interleaved colours, class i
    coloured as VOC entry i + 1, so class 0 is not black), the first entries replaced by ``colours`` if
    given (a dataset's ``PALETTE`` or PaddleSeg's ``custom_color``); ``ignore_index`` (nodata,
    unlabelled) black."""
    from paddleseg.utils.visualize import get_color_map_list  # imported here: this module loads no paddle

    table = np.asarray(get_color_map_list(256), np.uint8).reshape(256, 3)
    for i, colour in enumerate(colours or []):
        table[i] = colour
    table[ignore_index] = IGNORE_COLOUR
    return table


def colorize(label: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 RGB."""
    return np.take(table, np.clip(label, 0, 255).astype(np.uint8, copy=False), axis=0)


def to_display(img: np.ndarray) -> np.ndarray:
    """Any (H, W, C) image -> (H, W, 3) uint8 for viewing (first three bands, 2-98 % stretch if not 8-bit)."""
    if img.ndim == 2:
        img = img[:, :, None]
    img = img[:, :, :3] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float64)
    lo, hi = np.percentile(img, 2), np.percentile(img, 98)
    return np.clip((img - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)


def overlay(img: np.ndarray, colour: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a pseudo-colour picture (:func:`colorize`) over the image: (H, W, 3) uint8."""
    import cv2  # addWeighted on uint8: a few times faster than the same blend in float numpy

    return cv2.addWeighted(np.ascontiguousarray(to_display(img)), 1 - alpha, colour, alpha, 0)
