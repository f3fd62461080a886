"""Whole scenes in tiles with bounded memory: windows read from disk (on a read-ahead thread, so
reading overlaps with the model), logits blended, labels written to disk as each strip of rows is
finished."""
from __future__ import annotations

import logging
from typing import Callable, Optional

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


def _predict_scene(logits_fn: LogitsFn, preprocess: Callable[[np.ndarray], np.ndarray], src: str, dst: str,
                   num_classes: int, tile: int, overlap: int, batch_size: int, colormap: Optional[dict],
                   nodata_label: int, progress: bool, nodata_fill: Optional[np.ndarray]) -> RasterMeta:
    meta = read_meta(src)
    windows = list(iter_windows(meta.height, meta.width, tile, overlap))
    rows = sorted({w[0] for w in windows})
    th = windows[0][2]
    weight_cache = {}
    done_rows = 0  # rows [0, done_rows) are written
    acc = np.zeros((num_classes, th, meta.width), np.float32)
    # source nodata of the strip, gathered from the tiles as they are read (labelled nodata_label)
    nodata = np.zeros((th, meta.width), bool) if meta.nodata is not None else None
    acc_top = 0  # scene row of acc[:, 0]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(windows), desc="tiles", unit="tile", disable=None)
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

    try:
        for i, row in enumerate(rows):
            # rows above this strip's top can no longer receive logits: finish and write them
            if row > acc_top:
                done_rows = _flush(writer, acc, nodata, acc_top, row, meta.width, nodata_label)
                shift = row - acc_top
                acc[:, :th - shift] = acc[:, shift:]  # in place (numpy buffers the overlap)
                acc[:, th - shift:] = 0
                if nodata is not None:
                    nodata[:th - shift] = nodata[shift:]
                    nodata[th - shift:] = False
                acc_top = row
            strip = [w for w in windows if w[0] == row]
            for start in range(0, len(strip), batch_size):
                batch_windows = strip[start:start + batch_size]
                tiles = [next(loaded).result() for _ in batch_windows]
                batch = np.stack([pixels for pixels, _ in tiles])
                logits = logits_fn(batch.astype(np.float32))
                for (r, c, h, w), logit, (_, mask) in zip(batch_windows, logits, tiles):
                    if nodata is not None:
                        nodata[r - acc_top:r - acc_top + h, c:c + w] |= mask
                    key = (h, w)
                    if key not in weight_cache:
                        weight_cache[key] = blend_weights(h, w, overlap)
                    weight = weight_cache[key]
                    acc[:, r - acc_top:r - acc_top + h, c:c + w] += logit * weight
                if bar is not None:
                    bar.update(len(batch_windows))
        done_rows = _flush(writer, acc, nodata, acc_top, meta.height, meta.width, nodata_label)
        if done_rows != meta.height:
            raise RuntimeError(f"{src}: wrote {done_rows} of {meta.height} rows")
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
