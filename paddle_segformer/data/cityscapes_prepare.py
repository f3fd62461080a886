"""Convert a Cityscapes folder once: ``*_gtFine_labelTrainIds.png`` beside each labelIds file, and the
lists ``train.txt`` / ``val.txt`` (PaddleSeg format, paths relative to the root). No paddle.

Idempotent: a trainIds file newer than its labelIds file is kept as it is (reported as up to date);
frames without a label, and files that cannot be converted, are reported and left out of the lists.
Files are converted on threads (PNG decoding and encoding release the GIL) and written atomically.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..io.atomic import atomic_write_bytes
from ..io.image import PathLike, check_label_values, encode_png, read_label
from .cityscapes_labels import IGNORE_INDEX, NUM_LABEL_IDS, to_train_ids
from .cityscapes_layout import Frame, find_frames, write_list

logger = logging.getLogger(__name__)

LIST_SPLITS = ("train", "val")


@dataclass
class PrepareReport:
    """What :func:`prepare_cityscapes` did, per split."""

    written: int = 0
    up_to_date: int = 0
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)
    lists: Dict[str, Tuple[Path, int]] = field(default_factory=dict)  # split -> (list file, pairs)

    def lines(self) -> List[str]:
        out = [f"{split}: {count} pairs -> {path}" for split, (path, count) in self.lists.items()]
        out.append(f"labelTrainIds: {self.written} written, {self.up_to_date} already up to date (skipped), "
                   f"{len(self.skipped)} frame(s) skipped, {len(self.failed)} failed")
        out += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        out += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        return out


def is_up_to_date(frame: Frame) -> bool:
    """True when the trainIds file exists and is not older than its labelIds file (or has none)."""
    if not frame.train_ids.is_file():
        return False
    return not frame.label_ids.is_file() or frame.train_ids.stat().st_mtime >= frame.label_ids.stat().st_mtime


def convert_frame(frame: Frame) -> str:
    """Write the frame's trainIds PNG unless up to date: 'written' or 'up to date'; ImageReadError if bad."""
    if is_up_to_date(frame):
        return "up to date"
    label_ids = read_label(frame.label_ids)
    check_label_values(label_ids, NUM_LABEL_IDS, IGNORE_INDEX, frame.label_ids)  # official ids 0..33
    atomic_write_bytes(frame.train_ids, encode_png(to_train_ids(label_ids)))
    return "written"


def _convert_all(frames: Sequence[Frame], report: PrepareReport, workers: int, progress: bool) -> List[Frame]:
    from tqdm import tqdm

    def work(frame: Frame) -> Tuple[Frame, Optional[str], Optional[str]]:
        try:
            return frame, convert_frame(frame), None
        except (OSError, ValueError) as exc:  # ImageReadError: a corrupt or non-Cityscapes label
            return frame, None, str(exc)

    done: List[Frame] = []
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(frames), desc="labelTrainIds", unit="frame",
                                                  disable=None if progress else True) as bar:
        for frame, outcome, error in pool.map(work, frames):
            if error is not None:
                report.failed.append((str(frame.label_ids), error))
            else:
                report.written += outcome == "written"
                report.up_to_date += outcome == "up to date"
                done.append(frame)
            bar.update(1)
    return done


def prepare_cityscapes(root: PathLike, splits: Sequence[str] = LIST_SPLITS, workers: Optional[int] = None,
                       progress: bool = True) -> PrepareReport:
    """Convert every labelIds file of ``splits`` under ``root`` and write ``root/<split>.txt``.

    Raises FileNotFoundError when none of the splits is in the official layout."""
    root = Path(root)
    report = PrepareReport()
    found = 0
    for split in splits:
        try:
            frames = find_frames(root, split)
        except FileNotFoundError as exc:
            report.skipped.append((str(root / "leftImg8bit" / split), f"split not found ({exc})"))
            continue
        found += 1
        labelled = []
        for frame in frames:
            if frame.label_ids.is_file() or frame.train_ids.is_file():
                labelled.append(frame)
            else:
                report.skipped.append((str(frame.image), f"no label ({frame.label_ids.name} not found)"))
        done = _convert_all(labelled, report, workers or os.cpu_count() or 1, progress)
        path = write_list(root / f"{split}.txt", root, [(f.image, f.train_ids) for f in done])
        report.lists[split] = (path, len(done))
    if not found:
        raise FileNotFoundError(f"{root}: no Cityscapes split found ({', '.join(splits)}); "
                                f"expected {root}/leftImg8bit/<split>/<city>/*_leftImg8bit.png")
    return report

