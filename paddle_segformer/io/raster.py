"""Rasters through rasterio (GDAL inside one wheel): arrays + georeferencing, windows, bands.

Shapes are (H, W, C) for images; windows are (row, col, height, width). Imports no paddle.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from .atomic import atomic_path, temp_beside
from .image import RASTER_EXTS, ImageReadError, PathLike, read_image

# Label GeoTIFFs are Cloud-Optimized GeoTIFFs (GDAL's COG driver): 512 px tiles, deflate, internal overviews
# by the most frequent class in each block (MODE: an average of class ids would be no class), colour table
# and nodata kept. Overviews are made by the driver with the layout, not added afterwards (which breaks it).
COG_OPTIONS = {"BLOCKSIZE": 512, "COMPRESS": "DEFLATE", "OVERVIEWS": "AUTO", "OVERVIEW_RESAMPLING": "MODE"}
SCORE_SUFFIX = "_score"  # predict.py --save_scores: NAME_score.tif beside the label GeoTIFF NAME.tif


def score_path(label_path: PathLike) -> Path:
    """Where the score raster of the label GeoTIFF ``label_path`` goes: ``NAME_score.tif`` beside it."""
    path = Path(label_path)
    return path.with_name(path.stem + SCORE_SUFFIX + path.suffix)

# (row, col, height, width): the package's (H, W) order everywhere (tiling, strips, tests); rasterio's
# Window (col_off, row_off, width, height) is made from it only at the rasterio calls below.
Window = Tuple[int, int, int, int]


@dataclass(frozen=True)
class RasterMeta:
    """What a raster says about itself besides its pixels.

    Not rasterio's ``profile`` dict: a small frozen record that the folder's reader thread hands to the
    writer and that outputs need no more of; the label GeoTIFF's profile is built from it when written."""

    height: int
    width: int
    count: int
    dtype: str
    crs: Optional[Any] = None  # rasterio.crs.CRS
    transform: Optional[Any] = None  # affine.Affine
    nodata: Optional[float] = None


def _rasterio():
    try:
        import rasterio
    except ImportError as exc:  # pragma: no cover - rasterio is a runtime requirement
        raise ImageReadError("reading tif needs rasterio (pip install rasterio)") from exc
    return rasterio


def open_raster(path: PathLike) -> Any:
    """An open rasterio dataset (use as a context manager); unreadable files raise ImageReadError."""
    rasterio = _rasterio()
    try:
        return rasterio.open(os.fspath(path))
    except Exception as exc:  # RasterioIOError and GDAL errors
        raise ImageReadError(f"{os.fspath(path)}: cannot read raster ({exc})") from exc


def meta_of(src: Any) -> RasterMeta:
    """The :class:`RasterMeta` of an open rasterio dataset."""
    crs = src.crs if src.crs else None
    transform = src.transform if crs is not None or not src.transform.is_identity else None
    return RasterMeta(src.height, src.width, src.count, src.dtypes[0], crs, transform, src.nodata)


def read_window(src: Any, window: Optional[Window] = None, bands: Optional[Sequence[int]] = None) -> np.ndarray:
    """(H, W, C) pixels of an open dataset (all or the 1-based ``bands``; all or a ``window``)."""
    from rasterio.windows import Window as RioWindow

    if bands:
        bad = [b for b in bands if not 1 <= b <= src.count]
        if bad:
            raise ImageReadError(f"{src.name}: has {src.count} band(s), asked for band(s) {bad}")
    try:
        rio_window = None if window is None else RioWindow(window[1], window[0], window[3], window[2])
        data = src.read(indexes=list(bands) if bands else None, window=rio_window)
    except Exception as exc:  # truncated or corrupt pixel data
        raise ImageReadError(f"{src.name}: cannot read raster ({exc})") from exc
    return np.ascontiguousarray(np.transpose(data, (1, 2, 0)))


def read_meta(path: PathLike) -> RasterMeta:
    """Size, band count, dtype, CRS, transform and nodata, without reading pixels."""
    with open_raster(path) as src:
        return meta_of(src)


def read_raster(path: PathLike, window: Optional[Window] = None,
                bands: Optional[Sequence[int]] = None) -> Tuple[np.ndarray, RasterMeta]:
    """(H, W, C) pixels (all or the 1-based ``bands``) of the whole raster or a ``window``, + metadata."""
    with open_raster(path) as src:
        return read_window(src, window, bands), meta_of(src)


def nodata_mask(img: np.ndarray, nodata: Optional[float]) -> Optional[np.ndarray]:
    """(H, W) True where any band holds the source's nodata value (or NaN); None if it declares none.

    From the pixels already read rather than rasterio's ``read_masks`` / ``dataset_mask``: GDAL's dataset
    mask marks a pixel invalid only where every band is nodata, and reading masks costs a second pass over
    the window; a pixel with any band missing cannot be classified, so any band counts here."""
    if nodata is None:
        return np.any(np.isnan(img), axis=-1) if np.issubdtype(img.dtype, np.floating) else None
    if np.isnan(nodata):
        return np.any(np.isnan(img), axis=-1)
    mask = np.any(img == nodata, axis=-1)
    if np.issubdtype(img.dtype, np.floating):
        mask |= np.any(np.isnan(img), axis=-1)
    return mask


def read_model_input(path: PathLike, channels: int, fill: Optional[np.ndarray] = None, raw: bool = False
                     ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], Optional[RasterMeta]]:
    """Read any image for a model: (raw pixels, float32 model input, nodata mask, raster metadata).

    tif goes through rasterio (metadata and nodata mask, band count checked), other formats through
    :func:`read_image` (mask and metadata None). Nodata pixels of the model input get ``fill`` (raw
    per-band values, the normaliser's zero point) when it is given. ``raw``: the model input is the raw
    pixels themselves (not a float32 copy) unless nodata pixels were filled.
    """
    if not os.fspath(path).lower().endswith(RASTER_EXTS):
        img = read_image(path, channels=channels)
        return img, img if raw else img.astype(np.float32), None, None
    img, meta = read_raster(path)
    if img.shape[2] != channels:
        raise ImageReadError(f"{os.fspath(path)}: has {img.shape[2]} band(s), the config expects {channels}")
    mask = nodata_mask(img, meta.nodata)
    filled = mask is not None and mask.any() and fill is not None
    if raw and not filled:
        return img, img, mask, meta
    model_input = img.astype(np.float32)
    if filled:
        model_input[mask] = fill
    return img, model_input, mask, meta


def label_colormap(table: np.ndarray, num_classes: int) -> Dict[int, Tuple[int, int, int, int]]:
    return {i: (int(table[i][0]), int(table[i][1]), int(table[i][2]), 255) for i in range(num_classes)}


class LabelRasterWriter:
    """A single-band uint8 label GeoTIFF written window by window to a hidden ``.NAME.*.part`` GeoTIFF and,
    on :meth:`close`, copied into a Cloud-Optimized GeoTIFF (:func:`write_cog`; GDAL's COG driver can only
    copy a finished raster) that is renamed over the target: never a half-written file under the final
    name. Deflate-compressed, with a colour table, the source's CRS and transform, and ``nodata`` where the
    source had nodata. ``resampling``: of the overviews (MODE for class ids; AVERAGE suits scores)."""

    def __init__(self, path: PathLike, meta: RasterMeta, colormap: Optional[Dict[int, tuple]] = None,
                 nodata: Optional[int] = None, resampling: str = "MODE"):
        rasterio = _rasterio()
        self.path, self.resampling = Path(path), resampling
        self.tmp = tmp = temp_beside(self.path)
        try:
            self._dst = self._open(rasterio, tmp, meta, colormap, nodata)
        except BaseException:
            os.unlink(tmp)
            raise

    @staticmethod
    def _open(rasterio: Any, tmp: str, meta: RasterMeta, colormap: Optional[Dict[int, tuple]],
              nodata: Optional[int]) -> Any:
        profile: Dict[str, Any] = dict(driver="GTiff", height=meta.height, width=meta.width, count=1, dtype="uint8",
                                       compress="deflate", tiled=meta.width >= 256 and meta.height >= 256)
        if profile["tiled"]:
            profile.update(blockxsize=256, blockysize=256)
        if meta.crs is not None:
            profile["crs"] = meta.crs
        if meta.transform is not None:
            profile["transform"] = meta.transform
        if nodata is not None:
            profile["nodata"] = nodata
        dst = rasterio.open(tmp, "w", **profile)
        if colormap:
            dst.write_colormap(1, colormap)
        return dst

    def write(self, labels: np.ndarray, window: Window) -> None:
        """(h, w) uint8 labels into ``window`` = (row, col, h, w)."""
        from rasterio.windows import Window as RioWindow

        row, col, h, w = window
        self._dst.write(labels.astype(np.uint8)[None], window=RioWindow(col, row, w, h))

    def close(self) -> None:
        self._dst.close()
        try:
            write_cog(self.tmp, self.path, self.resampling)
        finally:
            os.unlink(self.tmp)

    def abort(self) -> None:
        self._dst.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self) -> "LabelRasterWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_cog(src: PathLike, dst: PathLike, resampling: str = "MODE") -> None:
    """Copy the raster ``src`` to ``dst`` as a Cloud-Optimized GeoTIFF (:data:`COG_OPTIONS`, overviews by
    ``resampling``), atomically."""
    import rasterio.shutil

    with atomic_path(dst) as tmp:
        rasterio.shutil.copy(os.fspath(src), tmp, driver="COG", **{**COG_OPTIONS, "OVERVIEW_RESAMPLING": resampling})


def write_label_raster(path: PathLike, labels: np.ndarray, meta: RasterMeta,
                       colormap: Optional[Dict[int, tuple]] = None, nodata: Optional[int] = None,
                       resampling: str = "MODE") -> None:
    """Whole (H, W) uint8 array (labels, or scores with ``resampling`` AVERAGE) to a georeferenced COG
    (atomically)."""
    with LabelRasterWriter(path, meta, colormap, nodata, resampling) as writer:
        writer.write(labels, (0, 0, meta.height, meta.width))


def iter_windows(height: int, width: int, tile: Union[int, Tuple[int, int]], overlap: int = 0) -> Iterator[Window]:
    """Tiles of ``tile`` (h, w) stepping ``tile - overlap``; the last row/column shifts inward to end at the
    border (no padding); a tile larger than the raster is clipped to it."""
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    if min(th, tw) < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile {tile}, overlap {overlap}")
    th, tw = min(th, height), min(tw, width)
    tiled = [t for t, size in ((th, height), (tw, width)) if t < size]  # overlap matters only where tiled
    if tiled and overlap >= min(tiled):
        raise ValueError(f"overlap {overlap} must be smaller than the tile ({min(tiled)} px)")

    def starts(size: int, t: int):
        step = max(t - overlap, 1)
        out = list(range(0, max(size - t, 0) + 1, step))
        if out[-1] + t < size:
            out.append(size - t)
        return out

    for row in starts(height, th):
        for col in starts(width, tw):
            yield row, col, th, tw
