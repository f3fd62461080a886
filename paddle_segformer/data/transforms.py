"""Per-band normalisation for N-band 8/16-bit/float rasters (a PaddleSeg transform). Numpy only.

Config (``transforms`` list of a dataset):

    - type: BandNormalize
      mode: meanstd            # (x - mean) / std
      mean: [412.0, 655.1, 590.3, 2231.9]
      std: [180.2, 210.7, 240.9, 700.4]
    - type: BandNormalize
      mode: minmax             # (x - min) / (max - min), e.g. min 0, max 10000 for reflectance
      min: [0, 0, 0, 0]
      max: [10000, 10000, 10000, 10000]
    - type: BandNormalize
      mode: percentile         # clip to per-band percentile values (from band_stats.py), scale to 0..1
      low: [90.0, 150.0, 120.0, 300.0]
      high: [1800.0, 2100.0, 2400.0, 5200.0]

Nothing divides by 255 unless you say so.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from ..io.errors import ImageReadError

MODES = ("meanstd", "minmax", "percentile")


class BandNormalize:
    """Normalise each band with its own statistics; the band count is checked against them."""

    def __init__(self, mode: str = "meanstd", mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, min: Optional[Sequence[float]] = None,  # noqa: A002
                 max: Optional[Sequence[float]] = None, low: Optional[Sequence[float]] = None,  # noqa: A002
                 high: Optional[Sequence[float]] = None):
        if mode not in MODES:
            raise ValueError(f"BandNormalize mode must be one of {', '.join(MODES)}, got {mode!r}")
        given = {"meanstd": (mean, std), "minmax": (min, max), "percentile": (low, high)}[mode]
        names = {"meanstd": ("mean", "std"), "minmax": ("min", "max"), "percentile": ("low", "high")}[mode]
        if any(v is None for v in given):
            raise ValueError(f"BandNormalize mode {mode} needs {names[0]} and {names[1]} (one value per band)")
        first, second = (np.asarray(v, np.float32) for v in given)
        if first.shape != second.shape or first.ndim != 1:
            raise ValueError(f"BandNormalize: {names[0]} and {names[1]} must be lists of equal length")
        spread = second if mode == "meanstd" else second - first
        if np.any(spread <= 0):
            raise ValueError(f"BandNormalize: every band needs {names[1]} > {'0' if mode == 'meanstd' else names[0]}")
        self.mode = mode
        self.offset, self.scale = first, spread
        self.clip = mode == "percentile"
        self.bands = int(first.shape[0])

    def fill_values(self) -> np.ndarray:
        """Per-band raw values that normalise to 0 (used for nodata pixels)."""
        return self.offset.copy()

    def apply(self, img: np.ndarray) -> np.ndarray:
        """(H, W, C) raw -> (H, W, C) float32 normalised."""
        if img.ndim == 2:
            img = img[:, :, None]
        if img.shape[2] != self.bands:
            raise ValueError(f"BandNormalize has statistics for {self.bands} band(s), the image has {img.shape[2]}")
        img = img.astype(np.float32)
        if self.clip:
            img = np.clip(img, self.offset, self.offset + self.scale)
        return (img - self.offset) / self.scale

    def __call__(self, data: Dict) -> Dict:
        data["img"] = self.apply(data["img"])
        return data


class BandRandomPaddingCrop:
    """PaddleSeg's RandomPaddingCrop for any band count: pad (numpy, per band) to ``crop_size`` (w, h)
    if needed, then crop a random window. Padded labels get ``label_padding_value``: keep it equal to
    the dataset's ``ignore_index`` (255 by default) so padding is not learned."""

    def __init__(self, crop_size: Sequence[int] = (512, 512), im_padding_value: float = 0.0,
                 label_padding_value: int = 255):
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f"crop_size must be (width, height), got {crop_size}")
        self.crop_w, self.crop_h = int(crop_size[0]), int(crop_size[1])
        self.im_padding_value = im_padding_value
        self.label_padding_value = label_padding_value

    def __call__(self, data: Dict) -> Dict:
        img = data["img"]
        h, w = img.shape[:2]
        pad_h, pad_w = max(self.crop_h - h, 0), max(self.crop_w - w, 0)
        fields = ["img"] + list(data.get("gt_fields", []))
        if pad_h or pad_w:
            for key in fields:
                value = self.im_padding_value if key == "img" else self.label_padding_value
                widths = ((0, pad_h), (0, pad_w)) + ((0, 0),) * (data[key].ndim - 2)
                data[key] = np.pad(data[key], widths, constant_values=value)
            h, w = h + pad_h, w + pad_w
        top = np.random.randint(0, h - self.crop_h + 1)
        left = np.random.randint(0, w - self.crop_w + 1)
        for key in fields:
            data[key] = data[key][top:top + self.crop_h, left:left + self.crop_w]
        return data


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


def transform_list(transforms: object, where: str) -> List:
    """``transforms`` as a list of callables; a config entry that built no transform (a bare string, a number:
    YAML without ``type:``) is refused naming its place (PaddleSeg's Compose would fail at the first sample)."""
    if not isinstance(transforms, (list, tuple)):
        raise ValueError(f"{where}: must be a list of transforms (each `- type: Name`), got {transforms!r}")
    for i, op in enumerate(transforms):
        if not callable(op):
            raise ValueError(f"{where}[{i}]: {op!r} is not a transform (each entry needs `type: Name`)")
    return list(transforms)


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


# Of those, the ones that assume pixel values 0..255 (they divide by 255, clip or cast to uint8).
ASSUME_0_255 = ("Normalize", "RandomDistort", "RandomBlur", "RandomNoise", "ScalePadding", "RandomAffine")


def depth_problem(transforms: List, where: str) -> Optional[str]:
    """Why ``transforms`` cannot take images of more than 8 bits (16-bit PNG / TIFF, float rasters), or
    None when they can: a transform that assumes 0..255 would rescale them silently (PaddleSeg's
    Normalize divides by 255); BandNormalize, flips, crops and resizes keep the data's own range."""
    for op in transforms:
        name = type(op).__name__
        if name in ASSUME_0_255:
            return (f"{where}: transform {name} assumes 8-bit pixels ({EIGHT_BIT_RGB_ONLY[name]}): put a "
                    f"BandNormalize with this data's range there (e.g. mode: minmax, min: [0, ...], "
                    f"max: [65535, ...], or the statistics scripts/band_stats.py prints)")
    return None


def check_depth(dtype: object, problem: Optional[str], path: object) -> None:
    """Refuse (ImageReadError naming ``path``) pixels of ``dtype`` deeper than 8 bits when ``problem`` (from
    :func:`depth_problem`) says the transforms assume 0..255: never rescaled to 8 bits behind one's back."""
    if problem and str(dtype) != "uint8":
        raise ImageReadError(f"{path}: {dtype} pixels (not 8-bit) would be normalised as if 0..255; {problem}")
