"""Images in tiles with bounded memory: tiles read on a read-ahead thread (so reading overlaps with the
model), their logits blended into a strip of rows, labels handed on as each strip is finished.

One implementation for every source: a whole scene read from disk window by window
(:func:`predict_scene`, labels written to a GeoTIFF) and an image already in memory that is too large
for one forward pass (:func:`predict_array`, labels returned).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional, Tuple, Union

import numpy as np

from ..io.raster import LabelRasterWriter, RasterMeta, iter_windows, nodata_mask, open_raster, read_meta, read_window
from .readahead import read_ahead
from .scores import SCORE_NODATA, SCORE_RESAMPLING, scores_of

logger = logging.getLogger(__name__)

LogitsFn = Callable[[np.ndarray], np.ndarray]  # (N, C, h, w) normalised float32 -> (N, K, h, w) logits
Window = Tuple[int, int, int, int]  # (row, col, height, width)
TileReader = Callable[[Window], Tuple[np.ndarray, Optional[np.ndarray]]]  # -> (C, h, w) input, nodata mask
RowSink = Callable[[np.ndarray, int], None]  # (rows, width) labels starting at a scene row
GDAL_CACHE_MB = 128  # GDAL's default block cache is 5 % of RAM: bound it, or it grows with the scene


@dataclass(frozen=True)
class Tiling:
    """Tiles of ``tile`` px overlapping by ``overlap`` px, ``batch_size`` tiles per forward pass."""

    tile: int = 512
    overlap: int = 64
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.tile < 32 or self.overlap < 0:
            raise ValueError(f"tiled prediction needs tile >= 32, overlap >= 0 and batch_size >= 1, got "
                             f"{self.tile}, {self.overlap} and {self.batch_size}")


def blend_weights(height: int, width: int, overlap: int) -> np.ndarray:
    """(h, w) weights: 1 inside, ramping linearly to 1/(overlap+1) over ``overlap`` pixels at each edge."""
    if overlap <= 0:
        return np.ones((height, width), np.float32)

    def ramp(n: int) -> np.ndarray:
        r = np.minimum(np.arange(1, n + 1), np.arange(n, 0, -1)).astype(np.float32)
        return np.minimum(r / (overlap + 1), 1.0)

    return np.outer(ramp(height), ramp(width)).astype(np.float32)


class StripAccumulator:
    """The blended logits of ``rows`` image rows from ``top`` down, over the full width, and their
    source-nodata mask (``with_nodata``); rows above a new top are turned into labels and given to ``sink``,
    and with a ``score_sink`` their scores (:func:`.scores.scores_of` of the blended logits, the weighted
    sum divided by the weights' sum, whose argmax the labels are) to it.

    Memory: num_classes x rows x width float32, independent of the image's height.
    """

    def __init__(self, num_classes: int, rows: int, width: int, overlap: int, sink: RowSink,
                 with_nodata: bool = False, nodata_label: int = 255, score_sink: Optional[RowSink] = None,
                 top: int = 0):
        self.acc = np.zeros((num_classes, rows, width), np.float32)
        self.nodata = np.zeros((rows, width), bool) if with_nodata else None
        self.score_sink = score_sink
        self.weight_sum = np.zeros((rows, width), np.float32) if score_sink is not None else None
        self.top, self.done = top, top  # rows [top at start, done) are handed on
        self.overlap, self.sink, self.nodata_label = overlap, sink, nodata_label
        self.weights = {}  # (h, w) -> blend_weights

    def move_to(self, row: int) -> None:
        """Hand on rows [top, row), which no tile from ``row`` down reaches, and shift the strip to ``row``."""
        if row <= self.top:
            return
        self._flush(row)
        shift, n = row - self.top, self.acc.shape[1]
        self.acc[:, :n - shift] = self.acc[:, shift:]  # in place (numpy buffers the overlap)
        self.acc[:, n - shift:] = 0
        for plane in (self.nodata, self.weight_sum):
            if plane is not None:
                plane[:n - shift] = plane[shift:]
                plane[n - shift:] = 0
        self.top = row

    def add(self, window: Window, logit: np.ndarray, mask: Optional[np.ndarray]) -> None:
        """Blend one tile's (K, h, w) logits (and its nodata mask) in at ``window`` = (row, col, h, w)."""
        r, c, h, w = window
        if self.nodata is not None and mask is not None:
            self.nodata[r - self.top:r - self.top + h, c:c + w] |= mask
        if (h, w) not in self.weights:
            self.weights[(h, w)] = blend_weights(h, w, self.overlap)
        self.acc[:, r - self.top:r - self.top + h, c:c + w] += logit * self.weights[(h, w)]
        if self.weight_sum is not None:
            self.weight_sum[r - self.top:r - self.top + h, c:c + w] += self.weights[(h, w)]

    def finish(self, height: int) -> int:
        """Hand on the remaining rows; returns the number of rows handed on in all."""
        self._flush(height)
        return self.done

    def _flush(self, bottom: int) -> None:
        """argmax of rows [top, bottom) (nodata pixels -> ``nodata_label``) -> sink."""
        n = bottom - self.top
        if n <= 0:
            return
        # dividing by the (positive) weight sum would not change the argmax: blending is the weighted sum
        labels = np.argmax(self.acc[:, :n], axis=0).astype(np.uint8)
        if self.nodata is not None:
            labels[self.nodata[:n]] = self.nodata_label
        self.sink(labels, self.top)
        if self.score_sink is not None:
            scores = scores_of(self.acc[:, :n], self.weight_sum[:n])
            if self.nodata is not None:
                scores[self.nodata[:n]] = SCORE_NODATA
            self.score_sink(scores, self.top)
        self.done = bottom


def predict_tiles(logits_fn: LogitsFn, read_tile: TileReader, height: int, width: int, num_classes: int,
                  sink: RowSink, tiling: Tiling = Tiling(), with_nodata: bool = False, nodata_label: int = 255,
                  progress: bool = True, rows: Optional[Tuple[int, int]] = None,
                  score_sink: Optional[RowSink] = None) -> None:
    """Predict a (height x width) image tile by tile: ``read_tile(window)`` gives each tile's normalised
    (C, h, w) input and nodata mask (called on a read-ahead thread, in window order); logits are blended
    with :func:`blend_weights`, so overlaps are averaged, not overwritten; ``sink(labels, top)`` gets
    every row exactly once, top to bottom (``score_sink(scores, top)`` too when given: see
    :class:`StripAccumulator`).

    ``rows`` = (top, bottom): only the tiles whose window meets those rows are predicted and only those rows
    given to the sinks; every tile reaching one of them is blended in the same order as for the whole image,
    so they equal the whole image's rows exactly (a scene split by rows across processes,
    :mod:`.scene_bands`)."""
    windows = list(iter_windows(height, width, tiling.tile, tiling.overlap))
    end = height
    if rows is not None:
        windows = [w for w in windows if w[0] < rows[1] and w[0] + w[2] > rows[0]]
        end = windows[-1][0] + windows[-1][2]
        sink = _clipped(sink, *rows)
        score_sink = _clipped(score_sink, *rows) if score_sink is not None else None
    strip = StripAccumulator(num_classes, windows[0][2], width, tiling.overlap, sink, with_nodata, nodata_label,
                             score_sink, top=windows[0][0])
    loaded = read_ahead(lambda i: read_tile(windows[i]), len(windows))
    bar = _progress_bar(len(windows)) if progress else None
    try:
        # windows run row by row; a strip of rows is handed on once no later tile reaches it
        for start in range(0, len(windows), tiling.batch_size):
            batch_windows = windows[start:start + tiling.batch_size]
            tiles = [next(loaded).result() for _ in batch_windows]
            logits = logits_fn(np.stack([pixels for pixels, _ in tiles]).astype(np.float32))
            for window, logit, (_, mask) in zip(batch_windows, logits, tiles):
                strip.move_to(window[0])
                strip.add(window, logit, mask)
            if bar is not None:
                bar.update(len(batch_windows))
        if strip.finish(end) != end:
            raise RuntimeError(f"handed on rows up to {strip.done} of {end}")
    finally:
        loaded.close()  # stop reading ahead before the caller closes its source
        if bar is not None:
            bar.close()


def _clipped(sink: RowSink, top: int, bottom: int) -> RowSink:
    """``sink`` given only the rows in [top, bottom) of what it is handed."""

    def clipped(labels: np.ndarray, start: int) -> None:
        first, last = max(start, top), min(start + labels.shape[0], bottom)
        if first < last:
            sink(labels[first - start:last - start], first)

    return clipped


def predict_array(logits_fn: LogitsFn, chw: np.ndarray, num_classes: int, tiling: Tiling,
                  progress: bool = False, scores: bool = False) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """A normalised (C, H, W) image in memory -> (H, W) int32 labels, predicted in tiles; with ``scores``
    (labels, (H, W) uint8 scores)."""
    _, height, width = chw.shape
    labels = np.empty((height, width), np.int32)
    score = np.empty((height, width), np.uint8) if scores else None

    def read_tile(window: Window):
        r, c, h, w = window
        return chw[:, r:r + h, c:c + w], None

    def sink(rows: np.ndarray, top: int) -> None:
        labels[top:top + rows.shape[0]] = rows

    def score_sink(rows: np.ndarray, top: int) -> None:
        score[top:top + rows.shape[0]] = rows

    predict_tiles(logits_fn, read_tile, height, width, num_classes, sink, tiling, progress=progress,
                  score_sink=score_sink if scores else None)
    return (labels, score) if scores else labels


def predict_scene(logits_fn: LogitsFn, preprocess: Callable[[np.ndarray], np.ndarray], src: str, dst: str,
                  num_classes: int, tiling: Tiling = Tiling(), colormap: Optional[dict] = None,
                  nodata_label: int = 255, progress: bool = True,
                  nodata_fill: Optional[np.ndarray] = None, scores_dst: Optional[str] = None) -> RasterMeta:
    """Predict the raster ``src`` tile by tile into the label GeoTIFF ``dst`` (georeferencing copied), and
    with ``scores_dst`` the winning class's probability into that uint8 GeoTIFF (:mod:`.scores`).

    ``preprocess`` maps raw (h, w, C) pixels to normalised float32 (h, w, C) pixel by pixel. Memory holds
    one strip of ``tiling.tile`` rows (:class:`StripAccumulator`), independent of the scene's height; each
    finished strip is written. Source nodata pixels are given ``nodata_fill`` (raw per-band values,
    e.g. the normaliser's zero point, as in training) before ``preprocess`` and labelled
    ``nodata_label`` in the output (score :data:`.scores.SCORE_NODATA`).
    """
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        meta = read_meta(src)
        source = open_raster(src)
        writers = []
        try:
            writers.append(LabelRasterWriter(dst, meta, colormap,
                                             nodata=nodata_label if meta.nodata is not None else None))
            if scores_dst is not None:
                writers.append(LabelRasterWriter(scores_dst, meta, None, resampling=SCORE_RESAMPLING,
                                                 nodata=SCORE_NODATA if meta.nodata is not None else None))
            sinks = [lambda rows, top, w=w: w.write(rows, (top, 0) + rows.shape) for w in writers]
            predict_tiles(logits_fn, window_reader(source, meta, preprocess, nodata_fill), meta.height,
                          meta.width, num_classes, sinks[0], tiling, meta.nodata is not None, nodata_label,
                          progress, score_sink=sinks[1] if len(sinks) > 1 else None)
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        finally:
            source.close()
        for k, writer in enumerate(writers):
            try:
                writer.close()
            except BaseException:
                for rest in writers[k + 1:]:  # no temporary left behind
                    rest.abort()
                raise
    return meta


def window_reader(source, meta: RasterMeta, preprocess: Callable[[np.ndarray], np.ndarray],
                   nodata_fill: Optional[np.ndarray]) -> TileReader:
    """Window -> normalised (C, h, w) (nodata filled with ``nodata_fill`` first) and its nodata mask
    (None without nodata). Runs on the read-ahead thread, the only one reading ``source``."""

    def read(window: Window):
        pixels = read_window(source, window)
        mask = nodata_mask(pixels, meta.nodata) if meta.nodata is not None or nodata_fill is not None else None
        if mask is not None and mask.any() and nodata_fill is not None:
            pixels = pixels.astype(np.float32)
            pixels[mask] = nodata_fill
        return preprocess(pixels).transpose(2, 0, 1), mask

    return read


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="tiles", unit="tile", disable=None)
