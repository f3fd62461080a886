"""Per-band statistics over many rasters, streamed window by window, nodata excluded. No paddle.

Integer data up to 16 bits is counted exactly in per-band histograms (65,536 bins); float data
in 4,096 bins between the per-band minimum and maximum (a first pass finds them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, List, Sequence

import numpy as np

from ..io.image import RASTER_EXTS, read_image
from ..io.raster import nodata_mask, read_meta, read_raster

FLOAT_BINS = 4096
ROWS = 512


@dataclass
class BandStats:
    count: int
    mean: List[float]
    std: List[float]
    minimum: List[float]
    maximum: List[float]
    percentiles: dict  # percentile -> per-band values

    def snippet(self, low: float = 2.0, high: float = 98.0) -> str:
        def fmt(values):
            return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"

        return ("    # mean / std over {n} valid pixels (nodata excluded)\n"
                "    - type: BandNormalize\n      mode: meanstd\n      mean: {m}\n      std: {s}\n"
                "    # or clip to the {lo:g} and {hi:g} percentiles and scale to 0..1:\n"
                "    # - type: BandNormalize\n    #   mode: percentile\n    #   low: {l}\n    #   high: {h}\n").format(
            n=self.count, m=fmt(self.mean), s=fmt(self.std), lo=low, hi=high,
            l=fmt(self.percentiles[low]), h=fmt(self.percentiles[high]))


def _chunks(path: str) -> Iterator[np.ndarray]:
    """(N, C) valid pixels of ``path``, a few hundred rows at a time."""
    if not path.lower().endswith(RASTER_EXTS):
        img = read_image(path)
        yield img.reshape(-1, img.shape[-1])
        return
    meta = read_meta(path)
    for top in range(0, meta.height, ROWS):
        rows = min(ROWS, meta.height - top)
        img, _ = read_raster(path, (top, 0, rows, meta.width))
        mask = nodata_mask(img, meta.nodata)
        yield img.reshape(-1, img.shape[-1]) if mask is None else img[~mask]


def compute_band_stats(paths: Sequence[str], percentiles: Iterable[float] = (1, 2, 98, 99),
                       progress: bool = True) -> BandStats:
    """Mean, std, min, max and percentiles of every band over ``paths``."""
    paths = list(paths)
    if not paths:
        raise ValueError("no files to compute band statistics on")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths), desc="band stats", unit="file", disable=None)
    first = read_meta(paths[0]) if paths[0].lower().endswith(RASTER_EXTS) else None
    dtype = np.dtype(first.dtype) if first else read_image(paths[0]).dtype
    integer = np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2
    lo = hi = None
    if not integer:  # first pass: range per band
        for path in paths:
            for px in _chunks(path):
                if len(px):
                    lo = px.min(0) if lo is None else np.minimum(lo, px.min(0))
                    hi = px.max(0) if hi is None else np.maximum(hi, px.max(0))
    hists, total, sums, sq = None, 0, None, None
    for path in paths:
        for px in _chunks(path):
            if not len(px):
                continue
            if px.dtype != dtype:
                raise ValueError(f"{path}: is {px.dtype}, the first file is {dtype}; compute statistics per dtype")
            bands = px.shape[1]
            if hists is None:
                hists = np.zeros((bands, 65536 if integer else FLOAT_BINS), np.int64)
                sums, sq = np.zeros(bands), np.zeros(bands)
            if px.shape[1] != bands:
                raise ValueError(f"{path}: has {px.shape[1]} band(s), the first file has {bands}")
            f = px.astype(np.float64)
            sums += f.sum(0)
            sq += (f * f).sum(0)
            total += len(px)
            for b in range(bands):
                if integer:
                    hists[b] += np.bincount(px[:, b].astype(np.int64) - np.iinfo(dtype).min, minlength=65536)[:65536]
                else:
                    hists[b] += np.histogram(px[:, b], bins=FLOAT_BINS, range=(lo[b], max(hi[b], lo[b] + 1e-6)))[0]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if not total:
        raise ValueError("every pixel is nodata: no statistics")
    mean = sums / total
    std = np.sqrt(np.maximum(sq / total - mean ** 2, 0))
    cdf = np.cumsum(hists, axis=1) / total
    result = {}
    for q in percentiles:
        idx = np.argmax(cdf >= q / 100.0, axis=1)
        if integer:
            result[q] = (idx + np.iinfo(dtype).min).astype(float).tolist()
        else:
            width = (np.maximum(hi, lo + 1e-6) - lo) / FLOAT_BINS
            result[q] = (lo + (idx + 0.5) * width).tolist()
    nonzero = [np.nonzero(h)[0] for h in hists]
    if integer:
        mins = [float(n[0] + np.iinfo(dtype).min) for n in nonzero]
        maxs = [float(n[-1] + np.iinfo(dtype).min) for n in nonzero]
    else:
        mins, maxs = [float(v) for v in lo], [float(v) for v in hi]
    return BandStats(int(total), mean.tolist(), std.tolist(), mins, maxs, result)
