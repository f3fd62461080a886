"""Per-band statistics over many rasters, streamed window by window, nodata excluded. No paddle.

Integer data up to 16 bits is counted exactly in per-band histograms (65,536 bins); float data
in 4,096 bins between the per-band minimum and maximum (a first pass finds them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

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


class _Accumulator:
    """Running sums and per-band histograms of valid pixels of one dtype: exact bins for integers up to
    16 bits, :data:`FLOAT_BINS` between the per-band range ``lo`` .. ``hi`` for floats."""

    def __init__(self, dtype: np.dtype, lo: Optional[np.ndarray] = None, hi: Optional[np.ndarray] = None):
        self.dtype, self.lo, self.hi = dtype, lo, hi
        self.integer = np.issubdtype(dtype, np.integer) and dtype.itemsize <= 2
        self.offset = int(np.iinfo(dtype).min) if self.integer else 0
        self.hists: Optional[np.ndarray] = None
        self.total, self.sums, self.sq = 0, None, None

    def add(self, px: np.ndarray, path: str) -> None:
        """(N, C) valid pixels of ``path``."""
        if px.dtype != self.dtype:
            raise ValueError(f"{path}: is {px.dtype}, the first file is {self.dtype}; compute statistics per dtype")
        bands = px.shape[1]
        if self.hists is None:
            self.hists = np.zeros((bands, 65536 if self.integer else FLOAT_BINS), np.int64)
            self.sums, self.sq = np.zeros(bands), np.zeros(bands)
        if bands != self.hists.shape[0]:
            raise ValueError(f"{path}: has {bands} band(s), the first file has {self.hists.shape[0]}")
        f = px.astype(np.float64)
        self.sums += f.sum(0)
        self.sq += (f * f).sum(0)
        self.total += len(px)
        for b in range(bands):
            if self.integer:
                self.hists[b] += np.bincount(px[:, b].astype(np.int64) - self.offset, minlength=65536)[:65536]
            else:
                top = max(self.hi[b], self.lo[b] + 1e-6)
                self.hists[b] += np.histogram(px[:, b], bins=FLOAT_BINS, range=(self.lo[b], top))[0]

    def _value(self, index: np.ndarray) -> np.ndarray:
        """Per-band bin indices -> values (a float bin's centre)."""
        if self.integer:
            return (index + self.offset).astype(float)
        width = (np.maximum(self.hi, self.lo + 1e-6) - self.lo) / FLOAT_BINS
        return self.lo + (index + 0.5) * width

    def result(self, percentiles: Iterable[float]) -> BandStats:
        if not self.total:
            raise ValueError("every pixel is nodata: no statistics")
        mean = self.sums / self.total
        std = np.sqrt(np.maximum(self.sq / self.total - mean ** 2, 0))
        cdf = np.cumsum(self.hists, axis=1) / self.total
        result = {q: self._value(np.argmax(cdf >= q / 100.0, axis=1)).tolist() for q in percentiles}
        if self.integer:
            nonzero = [np.nonzero(h)[0] for h in self.hists]
            mins, maxs = [float(n[0] + self.offset) for n in nonzero], [float(n[-1] + self.offset) for n in nonzero]
        else:
            mins, maxs = [float(v) for v in self.lo], [float(v) for v in self.hi]
        return BandStats(int(self.total), mean.tolist(), std.tolist(), mins, maxs, result)


def _value_range(paths: Sequence[str]) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Per-band minimum and maximum of the valid pixels (the float histograms' first pass)."""
    lo = hi = None
    for path in paths:
        for px in _chunks(path):
            if len(px):
                lo = px.min(0) if lo is None else np.minimum(lo, px.min(0))
                hi = px.max(0) if hi is None else np.maximum(hi, px.max(0))
    return lo, hi


def compute_band_stats(paths: Sequence[str], percentiles: Iterable[float] = (1, 2, 98, 99),
                       progress: bool = True) -> BandStats:
    """Mean, std, min, max and percentiles of every band over ``paths``."""
    from tqdm import tqdm

    paths = list(paths)
    if not paths:
        raise ValueError("no files to compute band statistics on")
    first = read_meta(paths[0]) if paths[0].lower().endswith(RASTER_EXTS) else None
    dtype = np.dtype(first.dtype) if first else read_image(paths[0]).dtype
    acc = _Accumulator(dtype)
    if not acc.integer:
        acc.lo, acc.hi = _value_range(paths)
    with tqdm(total=len(paths), desc="band stats", unit="file", disable=None if progress else True) as bar:
        for path in paths:
            for px in _chunks(path):
                if len(px):
                    acc.add(px, path)
            bar.update(1)
    return acc.result(percentiles)
