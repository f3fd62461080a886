"""Pictures and tables for the notebook walkthrough (matplotlib, which VisualDL already requires).

Every function returns a matplotlib Figure (or a markdown string) and shows nothing by itself.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..io.image import read_image, read_label
from .evaluation import draw_confusion
from .palettes import colorize, overlay, palette


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, (float, np.floating)) else str(value)


def markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Rows of equal keys as a markdown table (floats to 4 places)."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(_cell(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def tile_grid(pairs: Sequence[Tuple[str, str]], num_classes: int, class_names: Sequence[str] = (),
              colours: Optional[Sequence[Tuple[int, int, int]]] = None):
    """Image and colour label side by side for each (image path, label path); a legend of the classes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    table = palette(list(colours) if colours else None)  # the dataset's PALETTE, else generic colours
    fig, axes = plt.subplots(2, len(pairs), figsize=(2.6 * len(pairs), 5.4), squeeze=False)
    for j, (image, label) in enumerate(pairs):
        axes[0, j].imshow(read_image(image, 3))
        axes[0, j].set_title(Path(image).name, fontsize=8)
        axes[1, j].imshow(colorize(read_label(label), table))
    for ax in axes.ravel():
        ax.axis("off")
    names = list(class_names) or [str(i) for i in range(num_classes)]
    handles = [Patch(color=table[i] / 255.0, label=f"{i} {names[i]}") for i in range(num_classes)]
    handles.append(Patch(color=table[255] / 255.0, label="255 unlabelled"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    return fig


def read_scalars(log_dir: str, tags: Sequence[str] = ("Train/loss", "Evaluate/mIoU")) -> Dict[str, np.ndarray]:
    """(iteration, value) rows of each tag from the VisualDL logs ``train(use_vdl=True)`` wrote to ``log_dir``
    (the newest log file); a tag that was never written gives an empty (0, 2) array."""
    from visualdl import LogReader

    files = sorted(glob.glob(os.path.join(log_dir, "vdlrecords.*.log")), key=os.path.getmtime)
    if not files:
        raise FileNotFoundError(f"{log_dir}: no VisualDL log (train with use_vdl=True)")
    reader = LogReader(file_path=files[-1])
    out = {}
    for tag in tags:
        try:
            records = reader.get_data("scalar", tag)
        except KeyError:
            records = []
        out[tag] = np.array([(r.id, r.value) for r in records], np.float64).reshape(-1, 2)
    return out


def training_curves(log_dir: str):
    """Training loss and validation mIoU against the iteration, from the VisualDL logs of a run."""
    import matplotlib.pyplot as plt

    data = read_scalars(log_dir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    loss, miou = data["Train/loss"], data["Evaluate/mIoU"]
    left.plot(loss[:, 0], loss[:, 1], marker=".")
    left.set(xlabel="iteration", ylabel="loss", title="training loss")
    right.plot(miou[:, 0], miou[:, 1], marker="o", color="tab:green")
    right.set(xlabel="iteration", ylabel="mIoU", title="validation mIoU", ylim=(0, 1))
    fig.tight_layout()
    return fig


def confusion_figure(conf: np.ndarray, class_names: Sequence[str]):
    """The confusion matrix (rows: label, columns: prediction) as val.py's report draws it, in a pyplot figure."""
    import matplotlib.pyplot as plt

    side = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    draw_confusion(fig, ax, conf, class_names)
    fig.tight_layout()
    return fig


def prediction_grid(images: Sequence[str], result_dir: str,
                    colours: Optional[Sequence[Tuple[int, int, int]]] = None, label_dir: Optional[str] = None):
    """One row per image: the image, its predicted labels in colour, the overlay (from the ``label/`` PNGs
    that ``predict`` wrote under ``result_dir``, found by file stem)."""
    import matplotlib.pyplot as plt

    table = palette(list(colours) if colours else None)  # the dataset's PALETTE, else generic colours
    labels = Path(label_dir) if label_dir else Path(result_dir) / "label"
    fig, axes = plt.subplots(len(images), 3, figsize=(8, 2.7 * len(images)), squeeze=False)
    for i, image in enumerate(images):
        img = read_image(image, 3)
        colour = colorize(read_label(labels / f"{Path(image).stem}.png"), table)
        for ax, picture, title in zip(axes[i], (img, colour, overlay(img, colour)),
                                      (Path(image).name, "prediction", "overlay")):
            ax.imshow(picture)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig


def class_table(result: Mapping[str, object], class_names: Sequence[str]) -> List[Dict[str, object]]:
    """Per-class IoU / precision / recall / Dice rows from :func:`paddle_segformer.cli.val.evaluate`'s result."""
    keys = ("class_iou", "class_precision", "class_recall", "class_dice")
    return [{"class": name, **{k[6:]: float(np.asarray(result[k])[i]) for k in keys}}
            for i, name in enumerate(class_names)]
