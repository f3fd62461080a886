"""Pixel coordinates to the raster's CRS, and areas / perimeters in metres.

In a projected CRS the geometry's own units are scaled to metres (the CRS's linear unit factor). In a
geographic CRS (degrees) the polygons are reprojected, for measuring only, to a Lambert azimuthal
equal-area projection centred on the raster (areas exact, lengths within a fraction of a percent over a
scene) after densifying their edges, through GDAL's coordinate transformation in rasterio (no pyproj).
Without a CRS everything stays in pixel units.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import numpy as np

DENSIFY_DEGREES = 0.01  # edge length (about 1 km) below which a straight edge in degrees stays straight enough


CHUNK_COORDS = 1 << 20  # vertices per chunk of the in-place steps (16-24 MB): peak memory one chunk over the polygons


def chunks(geoms: np.ndarray, limit: Optional[int] = None) -> List[slice]:
    """Consecutive slices of ``geoms`` holding about ``limit`` (default :data:`CHUNK_COORDS`) vertices each
    (at least one geometry): counted in vertices, not geometries, since after merging a few thousand
    regions can hold every vertex of a scene."""
    import shapely

    if not len(geoms):
        return []
    limit = CHUNK_COORDS if limit is None else limit
    ends = np.cumsum(shapely.get_num_coordinates(geoms), dtype=np.int64)
    out, start = [], 0
    while start < len(geoms):
        before = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, before + limit, side="right")), start + 1)
        out.append(slice(start, stop))
        start = stop
    return out


def in_place(fn: Callable[[np.ndarray], np.ndarray], geoms: np.ndarray) -> np.ndarray:
    """Replace ``geoms`` (an object array this code owns) by ``fn`` of it, chunk by chunk (:func:`chunks`):
    the polygons are what fills memory on a large scene, and a whole new copy beside the old one would
    double it."""
    for part in chunks(geoms):
        geoms[part] = fn(geoms[part])
    return geoms


def to_crs(geoms: np.ndarray, transform: Optional[Any]) -> np.ndarray:
    """(N,) geometries in pixel coordinates (x = column, y = row) -> the raster's coordinates by its affine
    ``transform`` (None: unchanged), as a new array. The same pixel corner always maps to the same
    coordinates, so neighbours keep sharing their vertices exactly."""
    import shapely

    if transform is None:
        return geoms
    a, b, c, d, e, f = (transform.a, transform.b, transform.c, transform.d, transform.e, transform.f)

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.stack([a * x + b * y + c, d * x + e * y + f], axis=1)

    return shapely.transform(geoms, apply)


def equal_area_crs(geoms: np.ndarray) -> Any:
    """A Lambert azimuthal equal-area CRS (WGS 84 ellipsoid, metres) centred on the geometries (lon / lat)."""
    import shapely
    from rasterio.crs import CRS

    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    lon, lat = (xmin + xmax) / 2, (ymin + ymax) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.8f} +lon_0={lon:.8f} +x_0=0 +y_0=0 +ellps=WGS84 "
                          "+units=m +no_defs")


def reproject(geoms: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Geometries from CRS ``src`` to ``dst`` (rasterio CRS objects), vertex by vertex."""
    import shapely
    from rasterio.warp import transform

    def apply(xy: np.ndarray) -> np.ndarray:
        if not len(xy):
            return xy
        xs, ys = transform(src, dst, xy[:, 0], xy[:, 1])
        return np.stack([np.asarray(xs), np.asarray(ys)], axis=1)

    return shapely.transform(geoms, apply)


def measures(geoms: np.ndarray, crs: Optional[Any], transform: Optional[Any] = None
             ) -> Tuple[np.ndarray, np.ndarray, str]:
    """(area, perimeter, unit) of (N,) geometries in ``crs`` coordinates (or in pixel coordinates moved there
    by ``transform``, chunk by chunk): square metres and metres when the CRS is known ("m"), else the
    geometries' own units ("px")."""
    import shapely

    unit = "m" if crs is not None else "px"
    if not len(geoms):
        return np.zeros(0), np.zeros(0), unit
    equal_area = None
    if crs is not None and crs.is_geographic:
        equal_area = equal_area_crs(to_crs(np.array([shapely.box(*shapely.total_bounds(geoms))]), transform))
    factor = crs.linear_units_factor[1] if crs is not None and equal_area is None else 1.0
    area, length = np.empty(len(geoms)), np.empty(len(geoms))
    for part in chunks(geoms):
        chunk = to_crs(geoms[part], transform)
        if equal_area is not None:
            chunk = reproject(shapely.segmentize(chunk, DENSIFY_DEGREES), crs, equal_area)
        area[part] = shapely.area(chunk) * factor ** 2
        length[part] = shapely.length(chunk) * factor
    return area, length, unit
