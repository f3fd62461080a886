"""Start-up check of a list of (image, label) pairs: bands, sizes, CRS, label values, class
frequencies. Reads only raster headers for images and the (small) labels. Numpy only."""
from __future__ import annotations

import logging
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..io.image import RASTER_EXTS, ImageReadError, check_label_values, read_image, read_label
from ..io.raster import RasterMeta, read_meta, read_raster

logger = logging.getLogger(__name__)


def _meta(path: str) -> RasterMeta:
    if path.lower().endswith(RASTER_EXTS):
        return read_meta(path)
    img = read_image(path)  # small formats: decoding is the only reliable header check
    return RasterMeta(img.shape[0], img.shape[1], img.shape[2], str(img.dtype))


def check_pairs(pairs: Sequence[Tuple[str, Optional[str]]], num_classes: int, img_channels: int,
                ignore_index: int = 255, progress: bool = True) -> Dict[str, object]:
    """Raise :class:`ImageReadError` naming the first bad file; return counts per class."""
    counts = np.zeros(num_classes + 1, np.int64)  # last slot: ignored pixels
    iterator = pairs
    if progress and len(pairs) > 200:
        from tqdm import tqdm

        iterator = tqdm(pairs, desc="checking dataset", unit="pair", disable=None)
    for image_path, label_path in iterator:
        meta = _meta(image_path)
        if image_path.lower().endswith(RASTER_EXTS):  # a truncated file fails on its last row
            read_raster(image_path, (meta.height - 1, 0, 1, meta.width))
        if meta.count != img_channels:
            raise ImageReadError(f"{image_path}: has {meta.count} band(s), the config expects {img_channels}")
        if label_path is None:
            continue
        label = read_label(label_path)
        if label.shape != (meta.height, meta.width):
            raise ImageReadError(f"{label_path}: label is {label.shape[1]}x{label.shape[0]} (WxH) but image "
                                 f"{image_path} is {meta.width}x{meta.height}")
        if label_path.lower().endswith(RASTER_EXTS) and meta.crs is not None:
            label_meta = read_meta(label_path)
            if label_meta.crs is not None and label_meta.crs != meta.crs:
                raise ImageReadError(f"{label_path}: CRS {label_meta.crs} differs from image {image_path} ({meta.crs})")
            if label_meta.transform is not None and meta.transform is not None and not \
                    label_meta.transform.almost_equals(meta.transform):
                raise ImageReadError(f"{label_path}: transform differs from image {image_path}: the label "
                                     "does not cover the same ground")
        check_label_values(label, num_classes, ignore_index, label_path)
        values, found = np.unique(label, return_counts=True)
        for value, n in zip(values, found):
            counts[int(value) if value < num_classes else num_classes] += int(n)
    total = max(int(counts.sum()), 1)
    summary = {"pairs": len(pairs), "class_fraction": (counts[:num_classes] / total).tolist(),
               "ignored_fraction": float(counts[num_classes] / total)}
    logger.info("dataset check: %d pairs OK; class frequencies %s; ignored %.1f%%", len(pairs),
                ", ".join(f"{i}: {100 * f:.1f}%" for i, f in enumerate(summary["class_fraction"])),
                100 * summary["ignored_fraction"])
    return summary
