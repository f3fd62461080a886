"""Evaluate a dataset through a :class:`Predictor` (so through its fast runtime), PaddleSeg's metrics.

``paddleseg.core.evaluate`` takes a dynamic-graph model only; this loop gives the same numbers
(tested against it) for any runtime: the confusion matrix over all pixels, ignored ones dropped.
"""
from __future__ import annotations

import copy
import logging
from contextlib import closing
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..report.metrics import confusion_matrix, scores
from .predictor import Predictor
from .readahead import read_ahead
from .shards import Shard, split_by_cost

if TYPE_CHECKING:
    from .memory import MemoryGuard

logger = logging.getLogger(__name__)


def evaluate_dataset(predictor: Predictor, dataset: Any, num_classes: int, ignore_index: int = 255,
                     progress: bool = True, shard: Optional[Shard] = None) -> Dict[str, object]:
    """Metrics of ``predictor`` on a val-mode PaddleSeg dataset (items: transformed ``img`` (C, h, w),
    ``label`` (1, H, W), ``trans_info``): miou, acc, kappa, mdice and per-class arrays
    (see :func:`paddle_segformer.report.metrics.scores`) plus the confusion matrix.
    With a ``shard`` of several processes (``paddle.distributed`` initialised) each evaluates its share of the
    images (dealt round-robin) and the confusion matrices are summed over all of them (one all-reduce), so
    every process returns the whole dataset's metrics, equal to one process's."""
    from tqdm import tqdm

    from ..engine.rank_agreement import total

    mine = split_by_cost([1] * len(dataset), shard.world)[shard.rank] if shard else list(range(len(dataset)))
    if shard and not shard.single:
        logger.info("rank %d of %d: scoring %d of %d image(s); the confusion matrices are summed over the processes",
                    shard.rank, shard.world, len(mine), len(dataset))
    conf = np.zeros((num_classes, num_classes), np.int64)
    with tqdm(total=len(mine), desc="evaluate", unit="img", disable=None if progress else True) as bar, \
            closing(read_ahead(lambda k: dataset[mine[k]], len(mine))) as reads:
        names = [str(item[0]) for item in getattr(dataset, "file_list", [])]
        for k, read in enumerate(reads):
            i, data = mine[k], read.result()
            pred = predictor.predict_within_budget(np.asarray(data["img"], np.float32), data.get("trans_info") or [],
                                                   names[i] if i < len(names) else f"validation image {i}")
            label = np.asarray(data["label"]).reshape(pred.shape)
            conf += confusion_matrix(pred, label, num_classes, ignore_index)
            bar.update(1)
    conf = total(conf) if shard and not shard.single else conf
    result = scores(conf)
    result["confusion"] = conf
    return result


def score_items(predictor: Predictor, forward: Callable[[np.ndarray], np.ndarray], items: Sequence[Dict[str, Any]],
                num_classes: int, ignore_index: int = 255) -> Tuple[float, List[float]]:
    """(mIoU over val-mode dataset ``items`` (as :func:`evaluate_dataset` takes them), each item's own mIoU)
    of ``predictor`` with ``forward`` ((1, C, h, w) -> stride-4 logits, e.g. an OpenVINO compiled model)
    in place of its runtime: the same labels as :func:`evaluate_dataset`, the mIoU val.py reports."""
    from .backends import FunctionBackend

    runner = copy.copy(predictor)  # the predictor's transforms, label making and memory budget; its own runtime
    runner.attach(FunctionBackend(forward, num_classes, bool(getattr(predictor.model, "align_corners", False))))
    conf, each = np.zeros((num_classes, num_classes), np.int64), []
    for k, data in enumerate(items):
        pred = runner.predict_within_budget(np.asarray(data["img"], np.float32), data.get("trans_info") or [],
                                            f"validation image {k}")
        one = confusion_matrix(pred, np.asarray(data["label"]).reshape(pred.shape), num_classes, ignore_index)
        conf += one
        each.append(present_miou(one))
    return present_miou(conf), each


def present_miou(conf: np.ndarray) -> float:
    """mIoU of a (K, K) confusion matrix as val.py reports it (classes absent from both the labels and the
    predictions left out; 0.0 when none is present)."""
    from ..report.evaluation import EvalReport

    miou = EvalReport(conf, [str(k) for k in range(len(conf))]).result()["miou"]
    return 0.0 if np.isnan(miou) else float(miou)


def slide_when_too_large(dataset: Any, budget: Optional["MemoryGuard"], test_config: Dict[str, Any]) -> Dict[str, Any]:
    """``test_config`` for ``paddleseg.core.evaluate`` (the dynamic graph; val.py with test-time
    augmentation, train.py's evaluation), with PaddleSeg's sliding window switched on when a validation
    image's forward pass (at the largest test-time scale) would exceed the budget of ``budget`` (a
    MemoryGuard; its model shape and budget are used, for the dynamic graph); one log line says so.
    Image sizes are read from the files' headers."""
    from .memory import DYNAMIC, MemoryGuard, tile_overlap

    if budget is None or test_config.get("is_slide"):
        return test_config
    guard = MemoryGuard(budget.shape, budget.budget, DYNAMIC)
    scale = max(np.atleast_1d(test_config.get("scales", 1.0))) if test_config.get("aug_eval") else 1.0
    sizes = {_image_size(item[0]) for item in getattr(dataset, "file_list", [])}
    too_large = [(h, w) for h, w in sizes if not guard.plan(round(h * scale), round(w * scale)).fits]
    if not too_large:
        return test_config
    h, w = max(too_large, key=lambda s: s[0] * s[1])
    tile = guard.tile_size()
    step = tile - tile_overlap(tile)
    logger.info("validation images up to %dx%d: %s: evaluated with a sliding window of %d px, stride %d",
                w, h, guard.plan(round(h * scale), round(w * scale)).reason(h, w), tile, step)
    return dict(test_config, is_slide=True, crop_size=(tile, tile), stride=(step, step))


def _image_size(path: str) -> tuple:
    """(height, width) of an image file from its header."""
    if str(path).lower().endswith((".tif", ".tiff")):
        from ..io.raster import read_meta

        meta = read_meta(path)
        return meta.height, meta.width
    from PIL import Image

    with Image.open(path) as img:
        return img.height, img.width
