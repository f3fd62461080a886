"""Evaluate a dataset through a :class:`Predictor` (so through its fast runtime), PaddleSeg's metrics.

``paddleseg.core.evaluate`` takes a dynamic-graph model only; this loop gives the same numbers
(tested against it) for any runtime: the confusion matrix over all pixels, ignored ones dropped.
"""
from __future__ import annotations

import logging
from contextlib import closing
from typing import Any, Dict

import numpy as np

from ..metrics import confusion_matrix, scores
from .predictor import Predictor
from .readahead import read_ahead

logger = logging.getLogger(__name__)


def evaluate_dataset(predictor: Predictor, dataset: Any, num_classes: int, ignore_index: int = 255,
                     progress: bool = True) -> Dict[str, object]:
    """Metrics of ``predictor`` on a val-mode PaddleSeg dataset (items: transformed ``img`` (C, h, w),
    ``label`` (1, H, W), ``trans_info``): miou, acc, kappa, mdice and per-class arrays
    (see :func:`paddle_segformer.metrics.scores`) plus the confusion matrix."""
    from tqdm import tqdm

    conf = np.zeros((num_classes, num_classes), np.int64)
    with tqdm(total=len(dataset), desc="evaluate", unit="img", disable=None if progress else True) as bar, \
            closing(read_ahead(dataset.__getitem__, len(dataset))) as reads:
        for read in reads:
            data = read.result()
            pred = predictor.predict_transformed(np.asarray(data["img"], np.float32), data.get("trans_info") or [])
            label = np.asarray(data["label"]).reshape(pred.shape)
            conf += confusion_matrix(pred, label, num_classes, ignore_index)
            bar.update(1)
    result = scores(conf)
    result["confusion"] = conf
    return result
