"""The official Cityscapes folder layout: finding frames, their label files and writing list files. No paddle.

``ROOT/leftImg8bit/{split}/<city>/<frame>_leftImg8bit.png`` with
``ROOT/gtFine/{split}/<city>/<frame>_gtFine_labelIds.png`` (official labelIds) and, once converted
(``scripts/prepare_cityscapes.py``), ``<frame>_gtFine_labelTrainIds.png`` beside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..io.atomic import atomic_write_bytes
from ..io.image import PathLike

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
SPLITS = ("train", "val", "test")


def layout_hint(root: PathLike, split: str) -> str:
    return (f"expected the official Cityscapes layout {root}/leftImg8bit/{split}/<city>/<frame>{IMAGE_SUFFIX} "
            f"with {root}/gtFine/{split}/<city>/<frame>{LABEL_IDS_SUFFIX}")


def is_label_ids(path: PathLike) -> bool:
    """True for an official labelIds file (needs the labelId -> trainId table), False for anything else."""
    return str(path).endswith(LABEL_IDS_SUFFIX)


@dataclass(frozen=True)
class Frame:
    """One frame: its image and where its two kinds of label file are (or would be)."""

    image: Path
    label_ids: Path
    train_ids: Path

    @property
    def name(self) -> str:
        """``<city>_<sequence>_<frame>``, the official frame name."""
        return self.image.name[:-len(IMAGE_SUFFIX)]

    def label(self) -> Optional[Path]:
        """The label to train on: pre-converted trainIds if present, else labelIds, else None."""
        for path in (self.train_ids, self.label_ids):
            if path.is_file():
                return path
        return None


def find_frames(root: PathLike, split: str) -> List[Frame]:
    """Every frame of ``split`` under ``root``, sorted; raises FileNotFoundError naming the layout expected."""
    if split not in SPLITS:
        raise ValueError(f"Cityscapes split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(root)
    image_dir = root / "leftImg8bit" / split
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{image_dir}: no such folder; {layout_hint(root, split)}")
    images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        raise FileNotFoundError(f"{image_dir}: no <city>/*{IMAGE_SUFFIX} files; {layout_hint(root, split)}")
    frames = []
    for image in images:
        stem = image.name[:-len(IMAGE_SUFFIX)]
        gt = root / "gtFine" / split / image.parent.name
        frames.append(Frame(image, gt / f"{stem}{LABEL_IDS_SUFFIX}", gt / f"{stem}{TRAIN_IDS_SUFFIX}"))
    return frames


def labelled_pairs(frames: Sequence[Frame], need_labels: bool = True) -> List[Tuple[str, Optional[str]]]:
    """(image, label) path pairs; raises FileNotFoundError naming frames without a label file."""
    pairs, missing = [], []
    for frame in frames:
        label = frame.label()
        if label is None and need_labels:
            missing.append(str(frame.label_ids))
        pairs.append((str(frame.image), None if label is None else str(label)))
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} Cityscapes frame(s) have no gtFine label file: "
                                f"{', '.join(missing[:5])}{more}")
    return pairs


def write_list(path: PathLike, root: PathLike, pairs: Sequence[Tuple[Path, Path]]) -> Path:
    """PaddleSeg list file ``image label`` per line, paths relative to ``root`` (written atomically)."""
    root = Path(root)
    lines = [f"{Path(image).relative_to(root).as_posix()} {Path(label).relative_to(root).as_posix()}\n"
             for image, label in pairs]
    atomic_write_bytes(path, "".join(lines).encode("utf-8"))
    return Path(path)
