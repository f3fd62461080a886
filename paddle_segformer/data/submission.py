"""The competition's submission: one label PNG per test tile (same stem, class ids as pixel values), zipped.

:func:`submission_zip` checks before writing that every test image has a label of its size with values in
0..num_classes-1, then writes the zip atomically (flat: ``T000001.png`` at the archive's top). No paddle.
"""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import List

from ..io.atomic import atomic_path
from ..io.image import IMAGE_EXTS, check_label_values, read_label

logger = logging.getLogger(__name__)


def _image_size(path: Path) -> tuple:
    from PIL import Image

    with Image.open(path) as img:  # the header only
        return img.height, img.width


def check_submission(label_dir: str, test_dir: str, num_classes: int = 4) -> List[Path]:
    """The label PNGs of ``label_dir`` for the images of ``test_dir``, in stem order; ValueError naming the
    first few test images without a label, and ImageReadError for a label of the wrong size or values."""
    images = {p.stem: p for p in sorted(Path(test_dir).iterdir()) if p.suffix.lower() in IMAGE_EXTS}
    if not images:
        raise FileNotFoundError(f"{test_dir}: no test images")
    labels = {p.stem: p for p in Path(label_dir).glob("*.png")}
    missing = [str(images[s]) for s in sorted(images) if s not in labels]
    if missing:
        raise ValueError(f"{len(missing)} test image(s) have no label in {label_dir}, e.g. "
                         + ", ".join(missing[:5]))
    chosen = [labels[s] for s in sorted(images)]
    for stem, path in zip(sorted(images), chosen):
        label = read_label(path)
        check_label_values(label, num_classes, ignore_index=-1, path=path)  # a submission has no ignored pixel
        if label.shape != _image_size(images[stem]):
            raise ValueError(f"{path}: label is {label.shape[1]}x{label.shape[0]} (WxH) but the test image "
                             f"{images[stem]} is {_image_size(images[stem])[1]}x{_image_size(images[stem])[0]}")
    extra = sorted(set(labels) - set(images))
    if extra:
        logger.warning("%d label(s) in %s have no test image and are left out, e.g. %s", len(extra), label_dir,
                       extra[0])
    return chosen


def submission_zip(label_dir: str, test_dir: str, out_zip: str, num_classes: int = 4) -> Path:
    """Zip the label PNG of every test image (checked by :func:`check_submission`) into ``out_zip``."""
    labels = check_submission(label_dir, test_dir, num_classes)
    out = Path(out_zip)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in labels:
            handle.write(path, arcname=path.name)
    logger.info("wrote %d label PNGs to %s", len(labels), out)
    return out
