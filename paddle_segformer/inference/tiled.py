"""Whole scenes in tiles with bounded memory: windows read from disk (on a read-ahead thread, so
reading overlaps with the model), logits blended, labels written to disk as each strip of rows is
finished."""
from __future__ import annotations

import logging
from typing import Callable, Optional, Tuple

import numpy as np

from ..io.raster import LabelRasterWriter, RasterMeta, iter_windows, nodata_mask, open_raster, read_meta, read_window
from .readahead import read_ahead

logger = logging.getLogger(__name__)

LogitsFn = Callable[[np.ndarray], np.ndarray]  # (N, C, h, w) normalised float32 -> (N, K, h, w) logits
GDAL_CACHE_MB = 128  # GDAL's default block cache is 5 % of RAM: bound it, or it grows with the scene


def blend_weights(height: int, width: int, overlap: int) -> np.ndarray:
    """(h, w) weights: 1 inside, ramping linearly to 1/(overlap+1) over ``overlap`` pixels at each edge."""
    if overlap <= 0:
        return np.ones((height, width), np.float32)

    def ramp(n: int) -> np.ndarray:
        r = np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)).astype(np.float32)
        return np.minimum(r / (overlap + 1), 1.0)

    return np.outer(ramp(height), ramp(width)).astype(np.float32)


def predict_scene(logits_fn: LogitsFn, preprocess: Callable[[np.ndarray], np.ndarray], src: str, dst: str,
                  num_classes: int, tile: int = 512, overlap: int = 64, batch_size: int = 1,
                  colormap: Optional[dict] = None, nodata_label: int = 255, progress: bool = True,
                  nodata_fill: Optional[np.ndarray] = None) -> RasterMeta:
    """Predict the raster ``src`` tile by tile into the label GeoTIFF ``dst`` (georeferencing copied).

    ``preprocess`` maps raw (h, w, C) pixels to normalised float32 (h, w, C) pixel by pixel. Tiles of
    ``tile`` px overlap by ``overlap``; their logits are accumulated with :func:`blend_weights`, so
    overlaps are averaged, not overwritten. Memory holds one strip of ``tile`` rows: the accumulator is
    num_classes x tile x width float32, independent of the scene's height. Source nodata pixels are
    given ``nodata_fill`` (raw per-band values, e.g. the normaliser's zero point, as in training) before
    ``preprocess`` and labelled ``nodata_label`` in the output.
    """
    if batch_size < 1 or tile < 32:
        raise ValueError(f"tiled prediction needs tile >= 32 and batch_size >= 1, got {tile} and {batch_size}")
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _predict_scene(logits_fn, preprocess, src, dst, num_classes, tile, overlap, batch_size, colormap,
                              nodata_label, progress, nodata_fill)


class _Strip:
    """The blended logits of ``tile`` scene rows from ``top`` down, over the scene's full width, and their
    source-nodata mask (None when the scene has no nodata); rows above a new top are written out."""

    def __init__(self, num_classes: int, rows: int, meta: RasterMeta, overlap: int, nodata_label: int):
        self.acc = np.zeros((num_classes, rows, meta.width), np.float32)
        self.nodata = np.zeros((rows, meta.width), bool) if meta.nodata is not None else None
        self.top, self.done, self.width = 0, 0, meta.width  # rows [0, done) are written
        self.overlap, self.nodata_label = overlap, nodata_label
        self.weights = {}  # (h, w) -> blend_weights

    def move_to(self, row: int, writer: LabelRasterWriter) -> None:
        """Write rows [top, row), which no tile from ``row`` down reaches, and shift the strip to ``row``."""
        if row <= self.top:
            return
        self.done = _flush(writer, self.acc, self.nodata, self.top, row, self.width, self.nodata_label)
        shift, n = row - self.top, self.acc.shape[1]
        self.acc[:, :n - shift] = self.acc[:, shift:]  # in place (numpy buffers the overlap)
        self.acc[:, n - shift:] = 0
        if self.nodata is not None:
            self.nodata[:n - shift] = self.nodata[shift:]
            self.nodata[n - shift:] = False
        self.top = row

    def add(self, window: Tuple[int, int, int, int], logit: np.ndarray, mask: Optional[np.ndarray]) -> None:
        """Blend one tile's (K, h, w) logits (and its nodata mask) in at ``window`` = (row, col, h, w)."""
        r, c, h, w = window
        if self.nodata is not None:
            self.nodata[r - self.top:r - self.top + h, c:c + w] |= mask
        if (h, w) not in self.weights:
            self.weights[(h, w)] = blend_weights(h, w, self.overlap)
        self.acc[:, r - self.top:r - self.top + h, c:c + w] += logit * self.weights[(h, w)]

    def finish(self, writer: LabelRasterWriter, height: int) -> int:
        """Write the remaining rows; returns the number of rows written in all."""
        self.done = _flush(writer, self.acc, self.nodata, self.top, height, self.width, self.nodata_label)
        return self.done


def _predict_scene(logits_fn: LogitsFn, preprocess: Callable[[np.ndarray], np.ndarray], src: str, dst: str,
                   num_classes: int, tile: int, overlap: int, batch_size: int, colormap: Optional[dict],
                   nodata_label: int, progress: bool, nodata_fill: Optional[np.ndarray]) -> RasterMeta:
    meta = read_meta(src)
    windows = list(iter_windows(meta.height, meta.width, tile, overlap))
    strip = _Strip(num_classes, windows[0][2], meta, overlap, nodata_label)
    source = open_raster(src)
    try:
        writer = LabelRasterWriter(dst, meta, colormap, nodata=nodata_label if meta.nodata is not None else None)
    except BaseException:
        source.close()
        raise

    def reader(i: int):
        """Tile i normalised as (C, h, w) (nodata filled with ``nodata_fill`` first) and its nodata
        mask (None without nodata). Runs on the read-ahead thread, the only one reading ``source``."""
        pixels = read_window(source, windows[i])
        mask = nodata_mask(pixels, meta.nodata) if meta.nodata is not None or nodata_fill is not None else None
        if mask is not None and mask.any() and nodata_fill is not None:
            pixels = pixels.astype(np.float32)
            pixels[mask] = nodata_fill
        return preprocess(pixels).transpose(2, 0, 1), mask

    loaded = read_ahead(reader, len(windows))
    bar = _progress_bar(len(windows)) if progress else None
    try:
        # windows run row by row; a strip of rows is written once no later tile reaches it
        for start in range(0, len(windows), batch_size):
            batch_windows = windows[start:start + batch_size]
            tiles = [next(loaded).result() for _ in batch_windows]
            logits = logits_fn(np.stack([pixels for pixels, _ in tiles]).astype(np.float32))
            for window, logit, (_, mask) in zip(batch_windows, logits, tiles):
                strip.move_to(window[0], writer)
                strip.add(window, logit, mask)
            if bar is not None:
                bar.update(len(batch_windows))
        if strip.finish(writer, meta.height) != meta.height:
            raise RuntimeError(f"{src}: wrote {strip.done} of {meta.height} rows")
    except BaseException:
        writer.abort()
        raise
    finally:
        loaded.close()  # stop reading ahead before the source closes
        source.close()
        if bar is not None:
            bar.close()
    writer.close()
    return meta


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="tiles", unit="tile", disable=None)


def _flush(writer: LabelRasterWriter, acc: np.ndarray, nodata: Optional[np.ndarray], top: int, bottom: int,
           width: int, nodata_label: int) -> int:
    """argmax of scene rows [top, bottom) (nodata pixels -> ``nodata_label``) -> writer; returns ``bottom``."""
    n = bottom - top
    if n <= 0:
        return top
    # dividing by the (positive) weight sum would not change the argmax: blending is the weighted sum
    labels = np.argmax(acc[:, :n], axis=0).astype(np.uint8)
    if nodata is not None:
        labels[nodata[:n]] = nodata_label
    writer.write(labels, (top, 0, n, width))
    return bottom
