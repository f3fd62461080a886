"""Label GeoTIFFs -> polygons file + per-class table: ``vectorize.py`` and ``predict.py --vector``.

A raster is read in strips of rows (bounded memory), vectorised exactly (:mod:`.polygons`), small regions
merged (:func:`.coverage.merge_small`, in pixel coordinates where shared edges are exact), the coverage noded
and simplified (:mod:`.coverage`, in the raster's CRS), measured (:mod:`.areas`) and written
(:mod:`.writers`). Several rasters (a folder, a prediction's ``geotiff/``) go into one file, each polygon
naming its ``source``; regions are not joined across files.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..io.atomic import PathLike
from ..io.raster import SCORE_SUFFIX, RasterMeta, meta_of, open_raster, read_window
from .areas import in_place, measures, to_crs
from .coverage import merge_small, node_coverage, simplify_coverage
from .options import VectorOptions
from .polygons import Regions, StripVectorizer
from .writers import PolygonTable, class_table, name_of, write_polygons, write_table

logger = logging.getLogger(__name__)

RASTER_SUFFIXES = (".tif", ".tiff")
GDAL_CACHE_MB = 128  # as tiled prediction: GDAL's block cache would otherwise grow with the raster


def label_rasters(path: PathLike) -> List[Path]:
    """The label GeoTIFFs at ``path``: the file itself, or every tif under a folder (under its ``geotiff/``
    sub-folder when it has one: a ``predict.py`` save folder), hidden temporary files and ``predict.py
    --save_scores`` rasters (``NAME_score.tif``) left out."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{path}: no such label raster or folder")
    if (root / "geotiff").is_dir():
        root = root / "geotiff"
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and not p.name.startswith(".")
                   and not p.stem.endswith(SCORE_SUFFIX))
    if not found:
        raise ValueError(f"{path}: no label GeoTIFF (.tif) in this folder")
    return found


def check_label_meta(path: PathLike, meta: RasterMeta) -> Optional[int]:
    """Refuse what is not a label raster; returns its nodata value as a class-id-like int (None: none)."""
    if meta.count != 1:
        raise ValueError(f"{path}: a label raster has one band, this one has {meta.count}")
    if not np.issubdtype(np.dtype(meta.dtype), np.integer):
        raise ValueError(f"{path}: label raster holds {meta.dtype} values, not class ids (an integer raster)")
    if meta.crs is None:
        logger.warning("%s has no CRS: polygons, areas and perimeters are in pixel units", path)
    if meta.nodata is None or not float(meta.nodata).is_integer():
        return None
    return int(meta.nodata)


def read_regions(path: PathLike, options: VectorOptions) -> Tuple[Regions, RasterMeta]:
    """Vectorise one label raster strip by strip: its :class:`Regions` (pixel coordinates) and metadata.
    A raster without georeferencing gets this module's one warning (:func:`check_label_meta`), not
    rasterio's NotGeoreferencedWarning besides it."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = open_raster(path)
        with src:
            meta = meta_of(src)
            nodata = check_label_meta(path, meta)
            strips = StripVectorizer(meta.height, meta.width, nodata, junctions=options.noded)
            for top in range(0, meta.height, options.strip_rows):
                rows = min(options.strip_rows, meta.height - top)
                try:
                    strips.add(read_window(src, (top, 0, rows, meta.width))[..., 0], top)
                except ValueError as exc:  # labels GDAL cannot polygonize: name the file
                    raise ValueError(f"{path}: {exc} (rows {top}..{top + rows - 1})") from exc
    return strips.finish(), meta


def regions_to_table(regions: Regions, meta: RasterMeta, options: VectorOptions, class_names: Sequence[str],
                     source: str) -> PolygonTable:
    """Merge small regions, simplify, move to the raster's CRS and measure: the polygons with their fields.
    Takes the polygons over from ``regions`` (they are changed in place, to keep one copy in memory)."""
    geoms, class_id = regions.geometry, regions.class_id
    regions.geometry = None  # taken over: every step below replaces the polygons in place where it can
    if regions.junctions is not None:  # merging and simplifying work on a noded coverage
        geoms = node_coverage(geoms, regions.junctions)
    if options.min_area > 0:
        areas, _, _ = measures(geoms, meta.crs, meta.transform)
        geoms, class_id, merged = merge_small(geoms, class_id, areas, options.min_area)
        logger.info("%s: %d region(s) under %g merged into a neighbour", source, merged, options.min_area)
    geoms = in_place(lambda chunk: to_crs(chunk, meta.transform), geoms)
    geoms = simplify_coverage(geoms, options.simplify)
    area, perimeter, unit = measures(geoms, meta.crs)
    names = np.array([name_of(c, class_names) for c in class_id.tolist()], dtype=object)
    return PolygonTable(geoms, class_id, names, area, perimeter, np.full(len(geoms), source, dtype=object),
                        meta.crs, unit)


def concat_tables(tables: List[PolygonTable], paths: List[Path]) -> PolygonTable:
    """One table of the polygons of several rasters, which must share one CRS."""
    crs = tables[0].crs
    for table, path in zip(tables[1:], paths[1:]):
        if table.crs != crs:
            raise ValueError(f"{path}: its CRS differs from {paths[0]}'s: one polygon file holds one CRS "
                             "(vectorise them separately)")
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(t, name) for t in tables])

    return PolygonTable(cat("geometry"), cat("class_id"), cat("class_name"), cat("area"), cat("perimeter"),
                        cat("source"), crs, tables[0].unit)


def vectorize(labels: PathLike, options: VectorOptions, class_names: Sequence[str] = ()
              ) -> Tuple[PolygonTable, List[Dict[str, Any]]]:
    """Polygons of the label raster(s) at ``labels`` (:func:`label_rasters`): see :func:`vectorize_rasters`."""
    return vectorize_rasters(label_rasters(labels), options, class_names)


def vectorize_rasters(paths: Sequence[Path], options: VectorOptions, class_names: Sequence[str] = ()
                      ) -> Tuple[PolygonTable, List[Dict[str, Any]]]:
    """Polygons of the label rasters ``paths`` written to ``options.out``, the per-class table beside it
    (CSV, JSON); returns (polygons, table rows) (:func:`.writers.format_table` prints the rows)."""
    names = list(options.classes or class_names)
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError(f"no label raster to vectorise into {options.out}")
    start, tables = time.perf_counter(), []
    for path in paths:
        regions, meta = read_regions(path, options)
        tables.append(regions_to_table(regions, meta, options, names, path.stem))
    table = concat_tables(tables, paths)
    write_polygons(options.out, table)
    rows = class_table(table, names)
    written = write_table(options.out, rows, table.unit)
    logger.info("%d polygon(s) from %d raster(s) in %.1f s -> %s (per-class table: %s, %s)",
                len(table.geometry), len(paths), time.perf_counter() - start, options.out, written["csv"],
                written["json"])
    return table, rows
