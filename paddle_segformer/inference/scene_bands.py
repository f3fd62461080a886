"""One scene split by rows across processes: every rank predicts a band of rows, the scene's owner stitches.

With fewer files than processes (a few huge scenes on many processes) the per-file split (:mod:`.shards`)
leaves processes idle and one scene takes one process's time. Then each tiled scene is cut into ``world``
bands of rows, one per rank. A rank predicts the tiles whose window meets its band (the tile rows across a
band's edge are predicted by both neighbours: the blending needs them) and writes exactly its band's labels
to a hidden part file beside the output (``geotiff/.NAME.tif.<id>.band<k>of<n>.npy``, atomic); the rank that
owns the scene in the per-file split waits for every part (``--report_timeout``), copies them into the label
GeoTIFF (COG) and removes them. Every tile reaching a pixel is blended in the same order as in one process
(:func:`.tiled.predict_tiles` ``rows``), so the labels equal one process's exactly (one tile per forward
pass, the default). The part id hashes the resume key (weights, options) with the scene's size and mtime:
a part left by a killed run is reused only when it would be the same, never a stale one.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Tuple

import numpy as np

from ..io.atomic import atomic_path
from ..io.raster import LabelRasterWriter, RasterMeta, open_raster, read_meta
from .tiled import GDAL_CACHE_MB, Tiling, predict_tiles, window_reader

if TYPE_CHECKING:
    from .predictor import Predictor

logger = logging.getLogger(__name__)

COPY_ROWS = 1024  # rows copied from a part into the GeoTIFF at a time


class BandMissing(TimeoutError):
    """A band of a split scene did not come in time: its rank died, or cannot write the save folder."""


@dataclass(frozen=True)
class SceneBands:
    """This process's part in scenes split by rows: band ``rank`` of ``world``; ``key`` the resume key;
    ``timeout`` how long the scene's owner waits for the other bands (seconds)."""

    rank: int
    world: int
    key: str
    timeout: float = 3600.0


def band_rows(height: int, world: int) -> List[Tuple[int, int]]:
    """``world`` bands of rows (top, bottom) covering ``height`` rows in order, as equal as can be."""
    return [(height * k // world, height * (k + 1) // world) for k in range(world)]


def part_paths(src: Path, dst: Path, bands: SceneBands) -> List[Path]:
    """Where each band of ``src`` predicted into ``dst`` is written, named by the resume key and the scene's
    size and mtime (hashed), so that a part is reused only if it would come out the same."""
    stat = src.stat()
    text = f"{bands.key}:{stat.st_size}:{stat.st_mtime_ns}"
    tag = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return [dst.parent / f".{dst.name}.{tag}.band{k}of{bands.world}.npy" for k in range(bands.world)]


def predict_scene_band(predictor: "Predictor", src: Path, dst: Path, num_classes: int, tiling: Tiling,
                       bands: SceneBands, owner: bool, colormap: dict, nodata_label: int) -> None:
    """Predict this rank's band of the scene ``src`` into its part file (unless a part of the same id stands);
    the ``owner`` then waits for every band and writes the label GeoTIFF ``dst``."""
    meta = read_meta(src)
    rows, parts = band_rows(meta.height, bands.world), part_paths(src, dst, bands)
    top, bottom = rows[bands.rank]
    if bottom > top and not parts[bands.rank].is_file():
        _predict_band(predictor, src, meta, parts[bands.rank], num_classes, tiling, (top, bottom), nodata_label)
    if owner:
        _assemble(parts, rows, dst, meta, colormap, nodata_label if meta.nodata is not None else None, bands)


def _predict_band(predictor: "Predictor", src: Path, meta: RasterMeta, part: Path, num_classes: int,
                  tiling: Tiling, rows: Tuple[int, int], nodata_label: int) -> None:
    """Rows [top, bottom) of the scene's labels into the (rows, width) uint8 ``.npy`` ``part``, atomically."""
    import rasterio

    top, bottom = rows
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), atomic_path(part) as tmp:
        labels = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(bottom - top, meta.width))

        def sink(strip: np.ndarray, first: int) -> None:
            labels[first - top:first - top + strip.shape[0]] = strip

        source = open_raster(src)
        try:
            predict_tiles(predictor.logits, window_reader(source, meta, predictor.preprocess, predictor.nodata_fill()),
                          meta.height, meta.width, num_classes, sink, tiling, meta.nodata is not None, nodata_label,
                          rows=rows)
        finally:
            source.close()
        labels.flush()
        del labels


def _assemble(parts: List[Path], rows: List[Tuple[int, int]], dst: Path, meta: RasterMeta, colormap: dict,
              nodata: object, bands: SceneBands, poll: float = 0.2) -> None:
    """Wait (``bands.timeout``) for every non-empty band's part, copy them into the GeoTIFF ``dst``, remove them."""
    wanted = [k for k, (top, bottom) in enumerate(rows) if bottom > top]
    deadline = time.monotonic() + bands.timeout
    while not all(parts[k].is_file() for k in wanted) and time.monotonic() < deadline:
        time.sleep(poll)
    missing = [k for k in wanted if not parts[k].is_file()]
    if missing:
        said = ", ".join(f"{k} (rows {rows[k][0]}..{rows[k][1]})" for k in missing)
        raise BandMissing(f"the band(s) of rank(s) {said} of {bands.world} did not come within {bands.timeout:g} s: "
                          f"the process died or cannot write the save folder. The other bands are kept; run the "
                          f"same command again.")
    with LabelRasterWriter(dst, meta, colormap, nodata) as writer:
        for k in wanted:
            part, (top, bottom) = np.load(parts[k], mmap_mode="r"), rows[k]
            for first in range(0, bottom - top, COPY_ROWS):
                strip = np.asarray(part[first:first + COPY_ROWS])
                writer.write(strip, (top + first, 0) + strip.shape)
            del part
    for path in parts:
        path.unlink(missing_ok=True)
    logger.info("%s: %d bands of rows from %d processes stitched", dst.name, len(wanted), bands.world)
