"""``CityscapesDataset``: the official Cityscapes layout, 19 classes, labelIds converted on the fly."""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..io.image import check_label_values, check_same_size, read_label
from .check import check_pairs
from .cityscapes_labels import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES, NUM_LABEL_IDS, PALETTE, to_train_ids
from .cityscapes_layout import find_frames, is_label_ids, labelled_pairs
from .dataset import SegListDataset

logger = logging.getLogger(__name__)


class CityscapesDataset(SegListDataset):
    """Cityscapes frames (1024 x 2048 RGB) with fine labels, 19 trainIds, 255 = ignored.

    Without a list file the frames of ``mode`` are found in the official layout under ``dataset_root``
    (``leftImg8bit/{mode}/<city>/<frame>_leftImg8bit.png``, labels in ``gtFine/{mode}/<city>/``); with
    ``train_path`` / ``val_path`` / ``test_path`` (PaddleSeg list format, e.g. the lists
    ``scripts/prepare_cityscapes.py`` writes) the listed pairs are used. A label file named
    ``*_gtFine_labelIds.png`` holds official labelIds and goes through the labelId -> trainId table as it
    is read; any other (``*_gtFine_labelTrainIds.png``) already holds trainIds. ``CLASS_NAMES`` and
    ``PALETTE`` (official colours) are what predictions, overlays and reports use.
    """

    NUM_CLASSES = NUM_CLASSES
    IMG_CHANNELS = 3
    IGNORE_INDEX = IGNORE_INDEX
    CLASS_NAMES = CLASS_NAMES
    PALETTE = PALETTE
    LABEL_IDS = "cityscapes"  # predict.py --label_ids cityscapes writes official labelIds

    def __init__(self, mode: str, dataset_root: str, transforms: list, train_path: Optional[str] = None,
                 val_path: Optional[str] = None, test_path: Optional[str] = None, separator: str = " ",
                 check: bool = True):
        super().__init__(mode, dataset_root, transforms, train_path=train_path, val_path=val_path,
                         test_path=test_path, separator=separator, check=check)

    def list_files(self, list_path: Optional[str], separator: str) -> List[Tuple[str, Optional[str]]]:
        if list_path is not None:
            return super().list_files(list_path, separator)
        pairs = labelled_pairs(find_frames(self.dataset_root, self.mode), need_labels=self.mode != "test")
        raw = sum(1 for _, label in pairs if label is not None and is_label_ids(label))
        logger.info("Cityscapes %s: %d frames under %s (%d with labelIds converted as they are read, %d with "
                    "labelTrainIds)", self.mode, len(pairs), self.dataset_root, raw,
                    sum(1 for _, label in pairs if label is not None) - raw)
        return pairs

    def check_data(self) -> Dict[str, object]:
        """Check every pair; labelIds files must hold official ids 0..33, labelTrainIds files 0..18 or 255.
        Returns the trainId files' summary (or the labelIds files' when there are none)."""
        raw = [p for p in self.file_list if p[1] is not None and is_label_ids(p[1])]
        converted = [p for p in self.file_list if p[1] is not None and not is_label_ids(p[1])]
        summary: Dict[str, object] = {}
        if raw:  # any official labelId is valid; their class frequencies are by labelId
            summary = check_pairs(raw, NUM_LABEL_IDS, self.img_channels, self.ignore_index)
        if converted:
            summary = check_pairs(converted, self.num_classes, self.img_channels, self.ignore_index)
        return summary

    def load_label(self, image: np.ndarray, image_path: str, label_path: Optional[str]) -> Optional[np.ndarray]:
        if label_path is None or not is_label_ids(label_path):
            return super().load_label(image, image_path, label_path)
        label_ids = read_label(label_path)
        check_same_size(image.shape, label_ids.shape, image_path, label_path)
        check_label_values(label_ids, NUM_LABEL_IDS, self.ignore_index, label_path)
        return to_train_ids(label_ids).astype(np.int64)
