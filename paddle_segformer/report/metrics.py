"""Segmentation metrics from a confusion matrix (numpy only), matching PaddleSeg's definitions."""
from __future__ import annotations

from typing import Dict

import numpy as np


def confusion_matrix(pred: np.ndarray, label: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = label, columns = prediction; ignored pixels dropped."""
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    label = np.asarray(label).reshape(-1).astype(np.int64)
    if pred.shape != label.shape:
        raise ValueError(f"pred and label differ in size: {pred.size} vs {label.size}")
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]
    if label.size and (label.min() < 0 or label.max() >= num_classes):
        raise ValueError(f"label values outside 0..{num_classes - 1}")
    pred = np.clip(pred, 0, num_classes - 1)
    return np.bincount(label * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def scores(conf: np.ndarray) -> Dict[str, object]:
    """mIoU, per-class IoU / precision / recall / Dice, pixel accuracy and Cohen's kappa."""
    conf = conf.astype(np.float64)
    tp = np.diag(conf)
    pred_area, label_area = conf.sum(0), conf.sum(1)
    total = conf.sum()
    iou = _div(tp, pred_area + label_area - tp)
    dice = _div(2 * tp, pred_area + label_area)
    acc = float(tp.sum() / total) if total else 0.0
    expected = float((pred_area * label_area).sum() / total ** 2) if total else 0.0
    kappa = (acc - expected) / (1 - expected) if expected < 1 else 0.0
    return {"miou": float(iou.mean()), "acc": acc, "kappa": float(kappa), "mdice": float(dice.mean()),
            "class_iou": iou, "class_precision": _div(tp, pred_area), "class_recall": _div(tp, label_area),
            "class_dice": dice}
