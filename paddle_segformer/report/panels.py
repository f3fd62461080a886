"""Side-by-side pictures: ``image | prediction overlay | ground truth`` with titles and a colour legend.
Numpy and OpenCV only.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .palettes import colorize, overlay, to_display

Colour = Tuple[int, int, int]
TITLE_H, PAD = 28, 6
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _fit(img: np.ndarray, width: int, nearest: bool) -> np.ndarray:
    if img.shape[1] == width:
        return img
    height = max(1, round(img.shape[0] * width / img.shape[1]))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def _titled(picture: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((TITLE_H, picture.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, title, (PAD, TITLE_H - 9), FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, picture], 0)


def legend(names: Sequence[str], colours: Sequence[Colour], classes: Sequence[int], width: int) -> np.ndarray:
    """(h, width, 3) uint8: a swatch and the name of each class in ``classes``, in as many columns as fit."""
    cell_w = max(140, 18 + max((cv2.getTextSize(names[c], FONT, 0.5, 1)[0][0] for c in classes), default=0) + 12)
    columns = max(1, width // cell_w)
    rows = -(-len(classes) // columns)
    out = np.full((max(rows, 1) * 22 + PAD, width, 3), 255, np.uint8)
    for k, c in enumerate(classes):
        x, y = PAD + (k % columns) * cell_w, PAD + (k // columns) * 22
        cv2.rectangle(out, (x, y), (x + 14, y + 14), tuple(int(v) for v in colours[c]), -1)
        cv2.rectangle(out, (x, y), (x + 14, y + 14), (0, 0, 0), 1)
        cv2.putText(out, names[c], (x + 20, y + 12), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def panel(image: np.ndarray, prediction: np.ndarray, truth: Optional[np.ndarray], table: np.ndarray,
          names: Sequence[str], ignore_index: int = 255, width: int = 640, alpha: float = 0.5) -> np.ndarray:
    """One RGB picture (uint8): image, prediction over the image, ground truth (ignored pixels black).

    image (H, W, C) any dtype; prediction / truth (H, W) class ids; ``table`` (256, 3) palette (see
    :func:`paddle_segformer.report.palettes.palette`); each part scaled to ``width`` pixels; legend of the classes
    present in the prediction or the ground truth."""
    if prediction.shape != image.shape[:2] or (truth is not None and truth.shape != image.shape[:2]):
        raise ValueError(f"image {image.shape[:2]}, prediction {prediction.shape} and ground truth "
                         f"{None if truth is None else truth.shape} differ in size")
    shown = to_display(image)
    parts = [_titled(_fit(shown, width, False), "image"),
             _titled(_fit(overlay(shown, colorize(prediction, table), alpha), width, False), "prediction")]
    present = set(np.unique(prediction).tolist())
    if truth is not None:
        parts.append(_titled(_fit(colorize(truth, table), width, True), "ground truth"))
        present |= set(np.unique(truth).tolist())
    strip = np.concatenate([np.pad(p, ((0, 0), (0, PAD), (0, 0)), constant_values=255) for p in parts], 1)
    classes = sorted(c for c in present if c != ignore_index and c < len(names))
    return np.concatenate([strip, legend(names, table, classes, strip.shape[1])], 0)
