"""Pair images with labels by file stem and split them into PaddleSeg list files. Pure python."""
from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..io.atomic import atomic_path
from ..io.image import IMAGE_EXTS

logger = logging.getLogger(__name__)

LABEL_EXTS = (".png", ".tif", ".tiff", ".bmp")
Pair = Tuple[Path, Path]


@dataclass
class SplitResult:
    """Outcome of :func:`split_dataset`: pairs per split and the files that had no partner."""

    splits: Dict[str, List[Pair]]
    unpaired_images: List[Path] = field(default_factory=list)
    unpaired_labels: List[Path] = field(default_factory=list)
    files: Dict[str, Path] = field(default_factory=dict)


def _index(folder: Path, exts: Sequence[str], what: str) -> Dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {folder}")
    index: Dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in exts:
            if path.stem in index:
                raise ValueError(f"{what} folder {folder} has two files with stem {path.stem!r}: "
                                 f"{index[path.stem].name} and {path.name}")
            index[path.stem] = path
    if not index:
        raise FileNotFoundError(f"{what} folder {folder} holds no files ({', '.join(exts)})")
    return index


def pair_by_stem(image_dir: Path, label_dir: Path) -> Tuple[List[Pair], List[Path], List[Path]]:
    """Match ``img_train/T0001.jpg`` with ``lab_train/T0001.png`` by stem, not by sort order."""
    images = _index(Path(image_dir), IMAGE_EXTS, "image")
    labels = _index(Path(label_dir), LABEL_EXTS, "label")
    pairs = [(images[s], labels[s]) for s in sorted(images) if s in labels]
    lonely_images = [images[s] for s in sorted(images) if s not in labels]
    lonely_labels = [labels[s] for s in sorted(labels) if s not in images]
    if not pairs:
        raise ValueError(f"no image in {image_dir} has a label with the same stem in {label_dir}")
    return pairs, lonely_images, lonely_labels


def check_ratios(ratios: Sequence[float]) -> Tuple[float, float, float]:
    """Three non-negative ratios that sum to 1 (within 1e-6)."""
    if len(ratios) != 3:
        raise ValueError(f"expected 3 ratios (train val test), got {len(ratios)}")
    if any(r < 0 for r in ratios):
        raise ValueError(f"ratios must be >= 0, got {list(ratios)}")
    if not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise ValueError(f"ratios must sum to 1, got {list(ratios)} (sum {sum(ratios):g})")
    return tuple(float(r) for r in ratios)  # type: ignore[return-value]


def split_counts(n: int, ratios: Sequence[float]) -> Tuple[int, int, int]:
    """Counts per split; rounding leftovers go to train."""
    n_val = int(round(n * ratios[1]))
    n_test = int(round(n * ratios[2]))
    n_val = min(n_val, n)
    n_test = min(n_test, n - n_val)
    return n - n_val - n_test, n_val, n_test


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def split_dataset(ratios: Sequence[float], image_dir: str, label_dir: str, out_dir: Optional[str] = None,
                  seed: int = 0, separator: str = " ", dataset_root: Optional[str] = None) -> SplitResult:
    """Pair, shuffle with ``seed`` and write ``train.txt``, ``val.txt``, ``test.txt``.

    Paths in the lists are relative to ``dataset_root`` (default: the common parent of the two
    folders), which is what a PaddleSeg dataset config's ``dataset_root`` should be. Lines are
    ``image label``; test lines carry labels too, so the test split can be evaluated.
    """
    ratios = check_ratios(ratios)
    pairs, lonely_images, lonely_labels = pair_by_stem(Path(image_dir), Path(label_dir))
    for path in lonely_images:
        logger.warning("image without label (left out): %s", path)
    for path in lonely_labels:
        logger.warning("label without image (left out): %s", path)
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    n_train, n_val, _ = split_counts(len(pairs), ratios)
    shuffled = [pairs[i] for i in order]
    splits = {"train": shuffled[:n_train], "val": shuffled[n_train:n_train + n_val],
              "test": shuffled[n_train + n_val:]}
    root = Path(dataset_root) if dataset_root else Path(os.path.commonpath(
        [Path(image_dir).resolve(), Path(label_dir).resolve()]))
    out = Path(out_dir) if out_dir else root
    out.mkdir(parents=True, exist_ok=True)
    result = SplitResult(splits, lonely_images, lonely_labels)
    for name, items in splits.items():
        target = out / f"{name}.txt"
        lines = [f"{_relative(Path(i).resolve(), root.resolve())}{separator}"
                 f"{_relative(Path(l).resolve(), root.resolve())}" for i, l in items]
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        result.files[name] = target
    logger.info("split %d pairs: train %d, val %d, test %d -> %s", len(pairs), len(splits["train"]),
                len(splits["val"]), len(splits["test"]), out)
    return result
