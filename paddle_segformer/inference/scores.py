"""The winning class's probability as a uint8 raster (``predict.py --save_scores``), for threshold tuning.

score = round half up (255 * max_k softmax(logits)_k); 0 marks nodata (a real score is at least
255 / K > 0.5 for K <= 255 classes, so it never rounds to 0).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

SCORE_NODATA = 0
SCORE_RESAMPLING = "AVERAGE"  # the score raster's overviews: an average of probabilities is one
ROWS = 64  # rows of (K, rows, W) float32 temporaries at a time


def scores_of(logits: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """(K, H, W) logits -> (H, W) uint8 scores: 255 * the largest softmax probability, rounded half up.

    ``weights`` (H, W): the logits are weighted sums (tiles blended) to be divided by it first.
    max softmax = 1 / sum_k exp(l_k - max l), computed row block by row block in float32."""
    _, height, width = logits.shape
    out = np.empty((height, width), np.uint8)
    for top in range(0, height, ROWS):
        block = logits[:, top:top + ROWS].astype(np.float32)
        if weights is not None:
            block /= weights[top:top + ROWS]
        block -= block.max(axis=0, keepdims=True)
        np.exp(block, out=block)
        probability = 1.0 / block.sum(axis=0, dtype=np.float64)
        out[top:top + ROWS] = np.floor(probability * 255.0 + 0.5).astype(np.uint8)
    return out
