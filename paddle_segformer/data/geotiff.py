"""GeoTIFF / multi-band raster dataset: any band count, 8/16-bit or float, config-driven facts."""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import numpy as np

from ..io.raster import read_model_input
from .dataset import SegListDataset
from .transforms import check_transforms

logger = logging.getLogger(__name__)

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
