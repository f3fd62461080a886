"""Pixel coordinates to the raster's CRS, and areas / perimeters in metres.

In a projected CRS the geometry's own units are scaled to metres (the CRS's linear unit factor). In a
geographic CRS (degrees) the polygons are reprojected, for measuring only, to a Lambert azimuthal
equal-area projection centred on the raster (areas exact, lengths within a fraction of a percent over a
scene) after densifying their edges, through GDAL's coordinate transformation in rasterio (no pyproj).
Without a CRS everything stays in pixel units.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

DENSIFY_DEGREES = 0.01  # edge length (about 1 km) below which a straight edge in degrees stays straight enough


def to_crs(geoms: np.ndarray, transform: Optional[Any]) -> np.ndarray:
    """(N,) geometries in pixel coordinates (x = column, y = row) -> the raster's coordinates by its affine
    ``transform`` (None: unchanged). The same pixel corner always maps to the same coordinates, so
    neighbours keep sharing their vertices exactly."""
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


def measures(geoms: np.ndarray, crs: Optional[Any]) -> Tuple[np.ndarray, np.ndarray, str]:
    """(area, perimeter, unit) of (N,) geometries in ``crs`` coordinates: square metres and metres when the
    CRS is known ("m"), else pixel units ("px")."""
    import shapely

    if not len(geoms):
        return np.zeros(0), np.zeros(0), "m" if crs else "px"
    if crs is None:
        return shapely.area(geoms), shapely.length(geoms), "px"
    if crs.is_geographic:
        metric = reproject(shapely.segmentize(geoms, DENSIFY_DEGREES), crs, equal_area_crs(geoms))
        return shapely.area(metric), shapely.length(metric), "m"
    factor = crs.linear_units_factor[1]
    return shapely.area(geoms) * factor ** 2, shapely.length(geoms) * factor, "m"
