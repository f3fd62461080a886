"""Per-pixel colour baselines, the yardstick of the demo. No paddle.

- nearest mean: each pixel gets the class whose mean training colour is nearest;
- colour histogram: each (quantised) colour gets the class most frequent for it in training,
  the best any rule that sees one pixel's colour alone can do (up to quantisation).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..io.image import read_image, read_label
from .metrics import confusion_matrix, scores

logger = logging.getLogger(__name__)


def fit_class_means(pairs: List[Tuple[str, str]], num_classes: int) -> np.ndarray:
    """(num_classes, C) mean pixel value of each class over ``(image, label)`` pairs (other values ignored)."""
    sums: Optional[np.ndarray] = None
    counts = np.zeros(num_classes, np.float64)
    for image_path, label_path in pairs:
        img = read_image(image_path).astype(np.float64)
        label = read_label(label_path)
        if sums is None:
            sums = np.zeros((num_classes, img.shape[2]), np.float64)
        for c in range(num_classes):
            mask = label == c
            sums[c] += img[mask].sum(0)
            counts[c] += mask.sum()
    if sums is None:
        raise ValueError("no training pairs to fit the colour baseline")
    return sums / np.maximum(counts, 1)[:, None]


def predict_nearest(img: np.ndarray, means: np.ndarray) -> np.ndarray:
    """(H, W, C) image -> (H, W) index of the nearest class mean (Euclidean)."""
    dist = ((img.astype(np.float64)[:, :, None, :] - means[None, None]) ** 2).sum(-1)
    return dist.argmin(-1)


def _colour_bins(img: np.ndarray, levels: int) -> np.ndarray:
    q = (img[:, :, :3].astype(np.int64) * levels) // 256
    return (q[:, :, 0] * levels + q[:, :, 1]) * levels + q[:, :, 2]


def fit_colour_histogram(pairs: List[Tuple[str, str]], num_classes: int, levels: int = 32) -> np.ndarray:
    """Lookup table: quantised RGB bin -> most frequent training class (unseen bins: majority class)."""
    counts = np.zeros((levels ** 3, num_classes), np.int64)
    for image_path, label_path in pairs:
        bins, label = _colour_bins(read_image(image_path), levels), read_label(label_path)
        keep = label < num_classes
        np.add.at(counts, (bins[keep], label[keep].astype(np.int64)), 1)
    table = counts.argmax(1)
    table[counts.sum(1) == 0] = counts.sum(0).argmax()
    return table


def evaluate_baseline(train_pairs: List[Tuple[str, str]], eval_pairs: List[Tuple[str, str]],
                      num_classes: int, ignore_index: int = 255, method: str = "nearest_mean",
                      levels: int = 32) -> Dict[str, object]:
    """Fit on ``train_pairs``, score on ``eval_pairs``; returns :func:`metrics.scores`."""
    if method == "nearest_mean":
        means = fit_class_means(train_pairs, num_classes)
        rule = lambda img: predict_nearest(img, means)  # noqa: E731
    elif method == "histogram":
        table = fit_colour_histogram(train_pairs, num_classes, levels)
        rule = lambda img: table[_colour_bins(img, levels)]  # noqa: E731
    else:
        raise ValueError(f"method must be nearest_mean or histogram, got {method!r}")
    conf = np.zeros((num_classes, num_classes), np.int64)
    for image_path, label_path in eval_pairs:
        conf += confusion_matrix(rule(read_image(image_path)), read_label(label_path), num_classes, ignore_index)
    return scores(conf)
