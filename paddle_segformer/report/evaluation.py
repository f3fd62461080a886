"""The evaluation report: per-class scores by class name, the confusion matrix as JSON, CSV and a picture.

Convention (as the official Cityscapes evaluation): a class that appears neither in the ground truth nor
in the predictions (on scored pixels) has no score: it is reported as null and left out of the means.
PaddleSeg's ``core.evaluate`` counts such a class as IoU 0 in the mean instead; the two agree whenever
every class appears. Numpy only (matplotlib, imported when the picture is drawn).
"""
from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..io.image import PathLike
from .metrics import scores

logger = logging.getLogger(__name__)

CONVENTION = ("Rows of the confusion matrix are ground truth, columns predictions, over scored pixels (ground "
              "truth not the ignore index). A class absent from both the ground truth and the predictions has "
              "null scores and is left out of the means (mIoU, mean F1), as in the official Cityscapes "
              "evaluation. Precision of a class never predicted, and recall of a class absent from the ground "
              "truth, are 0. F1 equals Dice.")
PER_CLASS = ("iou", "precision", "recall", "f1")


def class_names_of(dataset: object, num_classes: int) -> List[str]:
    """The dataset's ``CLASS_NAMES`` if it has them (and they fit), else ``class_0``, ``class_1``, ..."""
    names = list(getattr(dataset, "CLASS_NAMES", None) or [])
    return names if len(names) == num_classes else [f"class_{i}" for i in range(num_classes)]


@dataclass
class EvalReport:
    """Scores of a (K, K) confusion matrix (rows ground truth, columns prediction) with class names."""

    confusion: np.ndarray
    class_names: Sequence[str]

    def __post_init__(self) -> None:
        self.confusion = np.asarray(self.confusion, np.int64)
        k = self.confusion.shape[0]
        if self.confusion.shape != (k, k) or len(self.class_names) != k:
            raise ValueError(f"confusion matrix {self.confusion.shape} does not match {len(self.class_names)} names")

    @property
    def present(self) -> np.ndarray:
        """(K,) bool: the class is in the ground truth or in the predictions."""
        return (self.confusion.sum(0) + self.confusion.sum(1)) > 0

    def per_class(self) -> Dict[str, np.ndarray]:
        """iou, precision, recall, f1: (K,) float64, NaN for absent classes."""
        base = scores(self.confusion)
        values = {"iou": base["class_iou"], "precision": base["class_precision"], "recall": base["class_recall"],
                  "f1": base["class_dice"]}
        return {k: np.where(self.present, v, np.nan) for k, v in values.items()}

    def result(self) -> Dict[str, object]:
        """The metrics val.py returns: miou, acc, kappa, mdice (mean F1) and per-class arrays (NaN = absent)."""
        base, per = scores(self.confusion), self.per_class()
        any_present = bool(self.present.any())
        return {"miou": float(np.nanmean(per["iou"])) if any_present else float("nan"), "acc": base["acc"],
                "kappa": base["kappa"], "mdice": float(np.nanmean(per["f1"])) if any_present else float("nan"),
                "class_iou": per["iou"], "class_precision": per["precision"], "class_recall": per["recall"],
                "class_dice": per["f1"]}

    def to_json(self) -> Dict[str, object]:
        """metrics.json: the convention, the summary, per-class scores by name, the confusion matrix."""
        result, per = self.result(), self.per_class()
        gt, pred = self.confusion.sum(1), self.confusion.sum(0)
        classes = {name: {**{k: _num(per[k][i]) for k in PER_CLASS}, "gt_pixels": int(gt[i]),
                          "pred_pixels": int(pred[i])} for i, name in enumerate(self.class_names)}
        return {"convention": CONVENTION, "miou": _num(result["miou"]), "acc": _num(result["acc"]),
                "kappa": _num(result["kappa"]), "mean_f1": _num(result["mdice"]),
                "classes_scored": int(self.present.sum()),
                "absent_classes": [n for n, p in zip(self.class_names, self.present) if not p],
                "class_names": list(self.class_names), "per_class": classes,
                **{f"class_{k}": [_num(v) for v in per[k]] for k in PER_CLASS},
                "confusion": self.confusion.tolist()}

    def table(self) -> str:
        """The per-class table as text (one line per class, then the means)."""
        per, gt = self.per_class(), self.confusion.sum(1)
        width = max(12, *(len(n) for n in self.class_names))
        lines = [f"{'class':<{width}}  {'IoU':>7} {'Prec':>7} {'Recall':>7} {'F1':>7} {'GT px':>12}"]
        for i, name in enumerate(self.class_names):
            cells = " ".join(f"{per[k][i]:7.4f}" if self.present[i] else f"{'null':>7}" for k in PER_CLASS)
            lines.append(f"{name:<{width}}  {cells} {int(gt[i]):12d}")
        result = self.result()
        lines.append(f"mIoU {result['miou']:.4f} over {int(self.present.sum())} of {len(self.class_names)} classes "
                     f"(absent from ground truth and predictions: null, not averaged)  Acc {result['acc']:.4f}  "
                     f"Kappa {result['kappa']:.4f}  mean F1 {result['mdice']:.4f}")
        return "\n".join(lines)

    def write(self, save_dir: PathLike) -> Dict[str, Path]:
        """metrics.json, confusion_matrix.csv, confusion_matrix.png in ``save_dir`` (each written atomically)."""
        out = Path(save_dir)
        paths = {"json": out / "metrics.json", "csv": out / "confusion_matrix.csv", "png": out / "confusion_matrix.png"}
        write_metrics(out, self.to_json())
        atomic_write_bytes(paths["csv"], self.csv().encode("utf-8"))
        atomic_write_bytes(paths["png"], self.heat_map())
        return paths

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["ground truth \\ prediction"] + list(self.class_names))
        for name, row in zip(self.class_names, self.confusion):
            writer.writerow([name] + [int(v) for v in row])
        return buf.getvalue()

    def heat_map(self) -> bytes:
        """PNG bytes: the confusion matrix normalised per ground-truth row, with class names."""
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

        side = max(4.0, 0.45 * len(self.class_names) + 2)
        fig = Figure(figsize=(side + 1, side))
        draw_confusion(fig, fig.add_subplot(), self.confusion, self.class_names)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def write_metrics(save_dir: PathLike, metrics: Mapping[str, Any]) -> Path:
    """``save_dir/metrics.json``, written atomically, indented by 2: the one metrics.json writer
    (:meth:`EvalReport.write`, and val.py's PaddleSeg AUC-ROC path). Numpy arrays and scalars become JSON
    lists and numbers; NaN (no score) becomes null, so any JSON reader takes the file."""
    path = Path(save_dir) / "metrics.json"
    atomic_write_bytes(path, json.dumps(_jsonable(metrics), indent=2).encode("utf-8"))
    return path


def _jsonable(value: Any) -> Any:
    """``value`` with numpy arrays / scalars as Python lists / numbers and NaN as None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return _num(value) if isinstance(value, float) else value


def draw_confusion(fig, ax, confusion: np.ndarray, class_names: Sequence[str]) -> None:
    """Draw a (K, K) confusion matrix (rows: ground truth, columns: prediction) on matplotlib ``ax``,
    normalised per ground-truth row, with class names, percentages (K <= 25) and a colour bar."""
    confusion = np.asarray(confusion, np.float64)
    rows = confusion.sum(1, keepdims=True)
    norm = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    k = len(class_names)
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the ground-truth class")
    ax.set_xticks(range(k), class_names, rotation=90)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    if k <= 25:
        for (i, j), v in np.ndenumerate(norm):
            if v >= 0.005:
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if v > 0.5 else "black")
    ax.set_title("confusion matrix (rows normalised, %)")


def _num(value: float) -> Optional[float]:
    """A float for JSON; NaN (no score) -> None (null)."""
    value = float(value)
    return None if np.isnan(value) else value

