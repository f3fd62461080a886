"""Synthetic georeferenced multi-band tiles (GeoTIFF) built on the parcel tiles. No paddle.

Bands: 1 = panchromatic, 3 = RGB, 4 = RGB + NIR, 6 = RGB + NIR + two SWIR-like bands. NIR and
SWIR depend on the class (vegetation bright in NIR) plus texture and noise, so extra bands carry
real information. uint16 values look like scaled reflectance (about 200..12000).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .synthetic import make_tile

CRS = "EPSG:32650"  # UTM zone 50N
PIXEL_M = 10.0
_NIR = np.array([190.0, 60.0, 215.0, 85.0])  # farmland, building, forest, other (8-bit scale)
_SWIR = np.array([[120.0, 150.0, 90.0, 130.0], [80.0, 140.0, 50.0, 110.0]])


def make_raster_tile(rng: np.random.Generator, size: int, bands: int, dtype: str) -> tuple:
    """((H, W, bands) array of ``dtype``, (H, W) uint8 label)."""
    rgb, label = make_tile(rng, size)
    cls = np.where(label == 255, 3, label).astype(int)
    rgb_f = rgb.astype(np.float32)
    extra = [_NIR[cls] + 0.3 * (rgb_f.mean(-1) - 120)] + [s[cls] + 0.2 * (rgb_f[..., 2] - 100) for s in _SWIR]
    extra = [e + rng.normal(0, 6, e.shape) for e in extra]
    stack = {1: [rgb_f.mean(-1)], 3: list(np.moveaxis(rgb_f, -1, 0)),
             4: list(np.moveaxis(rgb_f, -1, 0)) + extra[:1], 6: list(np.moveaxis(rgb_f, -1, 0)) + extra}[bands]
    img = np.clip(np.stack(stack, -1), 0, 255)
    if dtype == "uint16":
        img = img * 45 + 200 + rng.normal(0, 30, img.shape)
        img = np.clip(img, 1, 65535)
    return img.astype(dtype), label


def profile_for(index: int, size: int, bands: int, dtype: str, nodata: Optional[float]) -> Dict:
    from affine import Affine

    origin_x, origin_y = 500000.0 + index * size * PIXEL_M, 3500000.0
    profile = dict(driver="GTiff", width=size, height=size, count=bands, dtype=dtype, crs=CRS,
                   transform=Affine(PIXEL_M, 0, origin_x, 0, -PIXEL_M, origin_y))
    if nodata is not None:
        profile["nodata"] = nodata
    return profile


def write_raster_dataset(root: str, n: int = 12, size: int = 64, bands: int = 4, dtype: str = "uint16",
                         nodata: Optional[float] = None, label_format: str = "tif", seed: int = 0) -> Dict[str, Path]:
    """``img/T*.tif`` (georeferenced) and ``lab/T*.tif|png``; with ``nodata`` a corner of every
    image is set to it (its label pixels keep a class: the dataset must turn them into ignore)."""
    import rasterio

    folders = {"img": Path(root) / "img", "lab": Path(root) / "lab"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img, label = make_raster_tile(rng, size, bands, dtype)
        if nodata is not None:
            corner = np.add.outer(np.arange(size), np.arange(size)) < size // 3
            img[corner] = nodata
        profile = profile_for(i, size, bands, dtype, nodata)
        with rasterio.open(os.fspath(folders["img"] / f"T{i:04d}.tif"), "w", **profile) as dst:
            dst.write(np.moveaxis(img, -1, 0))
        if label_format == "tif":
            lab_profile = dict(profile, count=1, dtype="uint8")
            lab_profile.pop("nodata", None)
            with rasterio.open(os.fspath(folders["lab"] / f"T{i:04d}.tif"), "w", **lab_profile) as dst:
                dst.write(label[None])
        else:
            import cv2

            cv2.imwrite(os.fspath(folders["lab"] / f"T{i:04d}.png"), label)
    return folders
