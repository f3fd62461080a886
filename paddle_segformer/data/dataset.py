"""List-file segmentation datasets that validate every sample (PaddleSeg's data contract)."""
from __future__ import annotations

import logging
import os
from typing import List, Optional, Tuple

import numpy as np
import paddle
from paddleseg.transforms import Compose

from ..io.image import check_label_values, check_same_size, read_image, read_label
from .check import check_pairs
from .synthetic import CLASS_NAMES as PARCEL_CLASS_NAMES
from .transforms import check_depth, depth_problem, transform_list

logger = logging.getLogger(__name__)

# Parcel task colours: farmland, building, forest, other (RSParcelDataset.PALETTE).
PARCEL_COLOURS = [(250, 220, 60), (220, 40, 40), (30, 140, 30), (150, 150, 150)]


def find_list_file(list_path: str, dataset_root: str) -> str:
    """``list_path`` as given (PaddleSeg's rule) or, if relative and absent, inside ``dataset_root``."""
    if os.path.isfile(list_path):
        return list_path
    inside = os.path.join(dataset_root, list_path)
    if not os.path.isabs(list_path) and os.path.isfile(inside):
        return inside
    raise FileNotFoundError(f"list file not found: {list_path} (also looked in {dataset_root})")


def read_list_file(list_path: str, dataset_root: str, separator: str = " ",
                   need_labels: bool = True) -> List[Tuple[str, Optional[str]]]:
    """Parse ``image label`` lines; raise on a malformed line or a listed file that does not exist."""
    list_path = find_list_file(list_path, dataset_root)
    items: List[Tuple[str, Optional[str]]] = []
    missing: List[str] = []
    with open(list_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(separator)
            if len(parts) > 2 or (need_labels and len(parts) != 2):
                raise ValueError(f"{list_path}:{number}: expected 'image{separator}label', got {line!r}")
            paths = [os.path.join(dataset_root, p) for p in parts]
            missing += [p for p in paths if not os.path.isfile(p)]
            items.append((paths[0], paths[1] if len(paths) == 2 else None))
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{list_path}: {len(missing)} listed file(s) do not exist: "
                                f"{', '.join(missing[:5])}{more}")
    if not items:
        raise ValueError(f"{list_path}: the list is empty")
    return items


class SegListDataset(paddle.io.Dataset):
    """Images + labels listed in a text file, any band count, read without silent conversions.

    Arguments mirror PaddleSeg's ``Dataset``. With ``check`` (the default) every train / val pair is
    checked when the dataset is built, before training (readable files, band count, image/label size,
    label values in ``0..num_classes-1`` or ``ignore_index``; see :mod:`paddle_segformer.data.check`),
    and each sample again as it is loaded. Images keep their depth: a 16-bit PNG / TIFF is refused, naming
    the file and ``<mode>_dataset.transforms``, when a transform assumes 0..255 (PaddleSeg's Normalize
    divides by 255; BandNormalize knows the data's range).
    """

    NUM_CLASSES: Optional[int] = None
    IMG_CHANNELS: Optional[int] = None
    IGNORE_INDEX: int = 255

    def __init__(self, mode: str, dataset_root: str, transforms: list, num_classes: Optional[int] = None,
                 img_channels: Optional[int] = None, train_path: Optional[str] = None,
                 val_path: Optional[str] = None, test_path: Optional[str] = None, separator: str = " ",
                 ignore_index: Optional[int] = None, check: bool = True):
        self.mode = mode.lower()
        if self.mode not in ("train", "val", "test"):
            raise ValueError(f"mode must be train, val or test, got {mode!r}")
        self.num_classes = num_classes if num_classes is not None else self.NUM_CLASSES
        self.img_channels = img_channels if img_channels is not None else (self.IMG_CHANNELS or 3)
        self.ignore_index = ignore_index if ignore_index is not None else self.IGNORE_INDEX
        if not self.num_classes or self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if not os.path.isdir(dataset_root):
            raise FileNotFoundError(f"dataset_root not found: {dataset_root}")
        self.dataset_root = dataset_root
        # Images are handed over as RGB arrays, so Compose must not swap channels again.
        transforms = transform_list(transforms, f"{self.mode}_dataset.transforms")
        self.transforms = Compose(transforms, to_rgb=False, img_channels=self.img_channels)
        # 16-bit / float images: read at their depth, refused unless the transforms know their range
        self.depth_problem = depth_problem(list(transforms), f"{self.mode}_dataset.transforms")
        list_path = {"train": train_path, "val": val_path, "test": test_path}[self.mode]
        self.file_list = self.list_files(list_path, separator)
        self.summary = self.check_data() if check and self.mode != "test" else None

    def list_files(self, list_path: Optional[str], separator: str) -> List[Tuple[str, Optional[str]]]:
        """(image, label or None) paths of this mode's samples: the list file's lines."""
        if list_path is None:
            raise ValueError(f"mode {self.mode!r} needs {self.mode}_path")
        return read_list_file(list_path, self.dataset_root, separator, need_labels=self.mode != "test")

    @classmethod
    def with_config_facts(cls, cfg: dict) -> type:
        """For a type with ``CONFIG_DRIVEN`` (facts written in its config block, e.g. GeoTiffDataset): a
        subclass whose NUM_CLASSES / IMG_CHANNELS / IGNORE_INDEX are those of ``cfg``, the class attributes
        PaddleSeg's ``SegBuilder`` reads to size the model and the loss. Other types: ``cls`` itself."""
        if not getattr(cls, "CONFIG_DRIVEN", False):
            return cls
        missing = [k for k in ("num_classes", "img_channels") if k not in cfg]
        if missing:
            raise ValueError(f"dataset type {cls.__name__} needs {' and '.join(missing)} in its config")
        facts = {"NUM_CLASSES": cfg["num_classes"], "IMG_CHANNELS": cfg["img_channels"],
                 "IGNORE_INDEX": cfg.get("ignore_index", cls.IGNORE_INDEX)}
        return type(cls.__name__, (cls,), facts)

    def check_data(self) -> dict:
        """Check every pair of the list (raises naming the bad files); returns the class frequencies."""
        return check_pairs(self.file_list, self.num_classes, self.img_channels, self.ignore_index,
                           depth_problem=self.depth_problem)

    def __len__(self) -> int:
        return len(self.file_list)

    def load_label(self, image: np.ndarray, image_path: str, label_path: Optional[str]) -> Optional[np.ndarray]:
        """Read, check against the image and the class range, and return the (H, W) int64 label."""
        if label_path is None:
            return None
        label = read_label(label_path)
        check_same_size(image.shape, label.shape, image_path, label_path)
        check_label_values(label, self.num_classes, self.ignore_index, label_path)
        return label.astype(np.int64)

    def load(self, idx: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Read and validate sample ``idx``: (H, W, C) float32 image, (H, W) int64 label or None."""
        image_path, label_path = self.file_list[idx]
        image = read_image(image_path, channels=self.img_channels)
        check_depth(image.dtype, self.depth_problem, image_path)
        return image.astype(np.float32), self.load_label(image, image_path, label_path)

    def __getitem__(self, idx: int) -> dict:
        image, label = self.load(idx)
        data = {"img": image, "trans_info": [], "gt_fields": []}
        if label is not None:
            data["label"] = label
        if self.mode == "val":
            data = self.transforms(data)
            data["label"] = data["label"][np.newaxis, :, :]
        else:
            if label is not None:
                data["gt_fields"].append("label")
            data = self.transforms(data)
        return data


class RSParcelDataset(SegListDataset):
    """遥感影像地块分割: 256x256 RGB tiles, classes 0..3, 255 = unlabelled (not scored)."""

    NUM_CLASSES = 4
    IMG_CHANNELS = 3
    IGNORE_INDEX = 255
    CLASS_NAMES = PARCEL_CLASS_NAMES  # farmland, building, forest, other (val.py's report names them)
    PALETTE = PARCEL_COLOURS  # their colours: predict.py's default

    def __init__(self, mode: str, dataset_root: str, transforms: list, train_path: Optional[str] = None,
                 val_path: Optional[str] = None, test_path: Optional[str] = None, separator: str = " ",
                 check: bool = True):
        super().__init__(mode, dataset_root, transforms, train_path=train_path, val_path=val_path,
                         test_path=test_path, separator=separator, check=check)
