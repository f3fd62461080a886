"""Polygons with their fields to a file whose format follows the extension, and the per-class table.

GeoPackage, FlatGeobuf and GeoJSON through pyogrio (GDAL inside its wheel); GeoParquet through pyarrow
(pyogrio's wheel has no Parquet driver): WKB geometry with the ``geo`` metadata of GeoParquet 1.1. Every
file is written to a hidden temporary name beside the target and renamed when complete
(:func:`paddle_segformer.io.atomic.atomic_path`).
"""
from __future__ import annotations

import csv
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..io.atomic import PathLike, atomic_path, atomic_write_bytes

DRIVERS = {".gpkg": "GPKG", ".fgb": "FlatGeobuf", ".parquet": "GeoParquet", ".geojson": "GeoJSON"}


@dataclass
class PolygonTable:
    """(N,) polygons in ``crs`` coordinates and their fields; ``unit`` "m" (metres) or "px" (no CRS)."""

    geometry: np.ndarray
    class_id: np.ndarray
    class_name: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    source: np.ndarray
    crs: Optional[Any] = None
    unit: str = "m"

    def fields(self) -> Dict[str, np.ndarray]:
        return {"class_id": self.class_id.astype(np.int32), "class_name": self.class_name.astype(object),
                "area": self.area.astype(np.float64), "perimeter": self.perimeter.astype(np.float64),
                "source": self.source.astype(object)}


def driver_for(path: PathLike) -> str:
    """The format of an output path, from its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in DRIVERS:
        raise ValueError(f"{path}: unknown vector format {suffix or '(no extension)'}; use one of "
                         f"{', '.join(DRIVERS)}")
    return DRIVERS[suffix]


def write_polygons(path: PathLike, table: PolygonTable) -> None:
    """Write ``table`` to ``path`` (format from the extension) atomically."""
    import shapely

    driver = driver_for(path)
    wkb = shapely.to_wkb(table.geometry)
    fields = table.fields()
    with atomic_path(path) as tmp:
        if driver == "GeoParquet":
            _write_geoparquet(tmp, wkb, fields, table)
            return
        # GDAL creates the file itself, and FlatGeobuf makes a folder of a name without its extension:
        # write NAME.part.<ext> (hidden, random like tmp), then move it over tmp for atomic_path to publish
        with_ext = tmp + Path(path).suffix
        try:
            _write_ogr(with_ext, wkb, fields, table, driver, Path(path).stem)
            os.replace(with_ext, tmp)
        finally:
            if os.path.exists(with_ext):
                os.unlink(with_ext)


def _write_ogr(path: str, wkb: np.ndarray, fields: Dict[str, np.ndarray], table: PolygonTable, driver: str,
               layer: str) -> None:
    from pyogrio.raw import write  # pyogrio.write_dataframe would need geopandas

    with warnings.catch_warnings():  # a raster without a CRS was warned about already, in its own words
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        write(path, wkb, list(fields.values()), list(fields), driver=driver, geometry_type="Polygon", layer=layer,
              crs=table.crs.to_wkt() if table.crs else None)


def _write_geoparquet(tmp: str, wkb: np.ndarray, fields: Dict[str, np.ndarray], table: PolygonTable) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    columns = {name: pa.array(values.tolist()) for name, values in fields.items()}
    columns["geometry"] = pa.array(wkb.tolist(), type=pa.binary())
    bbox = [float(v) for v in shapely.total_bounds(table.geometry)] if len(table.geometry) else []
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {
        "encoding": "WKB", "geometry_types": ["Polygon"], "bbox": bbox,
        "crs": table.crs.to_dict(projjson=True) if table.crs else None}}}
    arrow = pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(arrow, tmp, compression="zstd")


def class_table(table: PolygonTable, class_names: Sequence[str]) -> List[Dict[str, Any]]:
    """One row per class present: class_id, class_name, count, area, share of the valid (polygon) area."""
    total = float(table.area.sum())
    rows = []
    for cid in np.unique(table.class_id).tolist():
        mine = table.class_id == cid
        area = float(table.area[mine].sum())
        rows.append({"class_id": int(cid), "class_name": name_of(cid, class_names), "count": int(mine.sum()),
                     "area": area, "share": area / total if total else 0.0})
    return rows


def name_of(class_id: int, class_names: Sequence[str]) -> str:
    return class_names[class_id] if 0 <= class_id < len(class_names) else f"class_{class_id}"


def format_table(rows: List[Dict[str, Any]], unit: str) -> str:
    """The table as aligned text (areas in m^2 or px^2)."""
    head = f"{'class':<16} {'id':>4} {'count':>9} {'area (' + unit + '^2)':>16} {'share':>8}"
    lines = [head] + [f"{r['class_name']:<16} {r['class_id']:>4} {r['count']:>9} {r['area']:>16.1f} "
                      f"{100 * r['share']:>7.2f}%" for r in rows]
    total = sum(r["area"] for r in rows)
    count, share = sum(r["count"] for r in rows), "100.00%" if rows else ""
    lines.append(f"{'all':<16} {'':>4} {count:>9} {total:>16.1f} {share:>8}")
    return "\n".join(lines)


def table_paths(out: PathLike) -> Dict[str, Path]:
    """Where the per-class table of the polygons in ``out`` goes: ``NAME.classes.csv`` / ``.json`` beside it."""
    out = Path(out)
    return {kind: out.with_name(f"{out.stem}.classes.{kind}") for kind in ("csv", "json")}


def write_table(out: PathLike, rows: List[Dict[str, Any]], unit: str) -> Dict[str, Path]:
    """The per-class table as CSV and JSON beside ``out`` (atomically); returns their paths."""
    paths = table_paths(out)
    text = io.StringIO()
    writer = csv.DictWriter(text, ["class_id", "class_name", "count", "area", "share"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(paths["csv"], text.getvalue().encode("utf-8"))
    payload = {"unit": f"{unit}^2", "valid_area": sum(r["area"] for r in rows), "classes": rows}
    atomic_write_bytes(paths["json"], (json.dumps(payload, indent=2) + "\n").encode("utf-8"))
    return paths
