"""GeoTIFF / multi-band raster dataset: any band count, 8/16-bit or float, config-driven facts."""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

import numpy as np

from ..io.raster import read_model_input
from .dataset import SegListDataset
from .transforms import BandNormalize

logger = logging.getLogger(__name__)

# Transforms that work per band on any band count and dtype (flips, numpy crops, OpenCV resizes).
ANY_BANDS = {"BandNormalize", "BandRandomPaddingCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "Resize",
             "ResizeByLong", "ResizeByShort", "LimitLong", "ResizeRangeScaling", "ResizeStepScaling"}
UP_TO_4_BANDS = {"RandomPaddingCrop", "RandomCenterCrop"}  # OpenCV border values take at most 4 bands
# Why the others are refused (the ones known to go wrong; anything unlisted is refused too).
EIGHT_BIT_RGB_ONLY = {"RandomDistort": "colour jitter works on 8-bit RGB through PIL",
                      "Normalize": "it divides by 255; use BandNormalize with statistics of your bands",
                      "RandomBlur": "it runs OpenCV filters on 8-bit images",
                      "RandomNoise": "it clips to 0..255",
                      "ScalePadding": "it casts the image to uint8", "RandomAffine": "it casts the image to uint8",
                      "Padding": "OpenCV border values take at most 4 bands; use BandRandomPaddingCrop",
                      "PaddingByAspectRatio": "it pads through Padding (at most 4 bands)",
                      "RandomRotation": "OpenCV border values take at most 4 bands"}


def check_transforms(transforms: List, where: str, bands: int) -> BandNormalize:
    """Refuse 8-bit-RGB-only transforms; return the BandNormalize of the list (required)."""
    for op in transforms:
        name = type(op).__name__
        if name in ANY_BANDS or (name in UP_TO_4_BANDS and bands <= 4):
            continue
        reason = EIGHT_BIT_RGB_ONLY.get(name) or (
            "OpenCV border values take at most 4 bands; use BandRandomPaddingCrop" if name in UP_TO_4_BANDS
            else f"it is not known to work per band; usable here: {', '.join(sorted(ANY_BANDS))}")
        raise ValueError(f"{where}: transform {name} cannot be used on N-band / 16-bit rasters ({reason})")
    norms = [op for op in transforms if isinstance(op, BandNormalize)]
    if not norms:
        raise ValueError(f"{where}: add a BandNormalize transform (per-band statistics; see scripts/band_stats.py)")
    return norms[0]


class GeoTiffDataset(SegListDataset):
    """Rasters (tif, or jpg/png) listed in a file, labels as tif or png.

    ``num_classes``, ``img_channels`` and ``ignore_index`` come from the dataset config (the entry
    points hand them to the model and the loss). Source nodata pixels become ``ignore_index`` in
    the labels and the normaliser's zero point in the image. ``check`` validates every pair when
    the dataset is built and logs the class frequencies.
    """

    CONFIG_DRIVEN = True  # see paddle_segformer.integration.builder

    def __init__(self, mode: str, dataset_root: str, transforms: list, num_classes: int, img_channels: int,
                 train_path: Optional[str] = None, val_path: Optional[str] = None, test_path: Optional[str] = None,
                 separator: str = " ", ignore_index: int = 255, check: bool = True):
        super().__init__(mode, dataset_root, transforms, num_classes=num_classes, img_channels=img_channels,
                         train_path=train_path, val_path=val_path, test_path=test_path, separator=separator,
                         ignore_index=ignore_index, check=False)
        self.normalize = check_transforms(list(transforms), f"{mode} dataset", img_channels)
        if self.normalize.bands != img_channels:
            raise ValueError(f"BandNormalize has statistics for {self.normalize.bands} band(s), "
                             f"img_channels is {img_channels}")
        self.summary = self.check_data() if check else None

    def load(self, idx: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        image_path, label_path = self.file_list[idx]
        _, image, nodata, _ = read_model_input(image_path, self.img_channels, self.normalize.fill_values())
        label = self.load_label(image, image_path, label_path)
        if label is not None and nodata is not None:
            label[nodata] = self.ignore_index
        return image, label
