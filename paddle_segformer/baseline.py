"""Per-pixel colour baseline: each pixel gets the class whose mean colour is nearest. No paddle.

It is the yardstick of the demo: a model that only looked at colour would score this.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

from .io.image import read_image, read_label
from .metrics import confusion_matrix, scores

logger = logging.getLogger(__name__)


def fit_class_means(pairs: List[Tuple[str, str]], num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(num_classes, C) mean pixel value of each class over ``(image, label)`` pairs."""
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


def evaluate_baseline(train_pairs: List[Tuple[str, str]], eval_pairs: List[Tuple[str, str]],
                      num_classes: int, ignore_index: int = 255) -> Dict[str, object]:
    """Fit on ``train_pairs``, score on ``eval_pairs``; returns :func:`metrics.scores`."""
    means = fit_class_means(train_pairs, num_classes, ignore_index)
    conf = np.zeros((num_classes, num_classes), np.int64)
    for image_path, label_path in eval_pairs:
        conf += confusion_matrix(predict_nearest(read_image(image_path), means), read_label(label_path),
                                 num_classes, ignore_index)
    result = scores(conf)
    result["class_means"] = means
    return result
