"""Connected regions of a label raster as polygons, vectorised strip by strip with bounded memory.

Each strip of rows (the full width) goes through GDAL's polygonizer (:func:`rasterio.features.shapes`,
4-connectivity, pixel coordinates). A region cut by strip edges comes out in pieces; pieces are joined
where the pixel rows on either side of an edge hold the same class (union-find over the pieces, found by
the pixel centres of the runs along the edge), and a group is unioned (:func:`shapely.union_all`)
as soon as none of its pieces reaches the strip being read. The result is the whole-raster
polygonization (same regions, same vertices), in pixel coordinates: x = column, y = row, integers.

Memory: one strip of labels plus the pieces of regions still open at its lower edge.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

VOID = -1  # outside the raster and nodata, as one value where junctions are counted
SHAPES_DTYPES = ("uint8", "uint16", "int16", "int32")  # what GDAL's polygonizer reads as integers


@dataclass
class Regions:
    """Polygons in pixel coordinates: ``geometry`` (N,) shapely Polygons, ``class_id`` (N,) int32, and
    ``junctions`` (M,) shapely Points where three or more regions (or nodata) meet (None unless asked)."""

    geometry: np.ndarray
    class_id: np.ndarray
    junctions: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.geometry)


def as_polygonizable(labels: np.ndarray) -> np.ndarray:
    """(h, w) labels in a dtype GDAL's polygonizer reads exactly; non-integer rasters are refused."""
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise ValueError(f"label raster holds {labels.dtype} values, not class ids (an integer raster)")
    if labels.dtype.name in SHAPES_DTYPES:
        return labels
    if labels.size and (labels.min() < np.iinfo(np.int32).min or labels.max() > np.iinfo(np.int32).max):
        raise ValueError("label values do not fit 32 bits")
    return labels.astype(np.int32)


def junction_rows(above: Optional[np.ndarray], rows: np.ndarray, top: int) -> np.ndarray:
    """(M, 2) (x, y) pixel corners on the corner rows ``top`` .. ``top + len(rows) - 1`` where three or four
    distinct values meet (``above``: the row before ``rows``, None at the raster's top; labels with VOID
    for nodata). Those are the vertices that a polygon passing straight through still has to share with
    its neighbours for the polygons to form a valid coverage (GDAL leaves them out)."""
    first = np.full((1, rows.shape[1]), VOID, np.int32) if above is None else above[None].astype(np.int32)
    block = np.pad(np.concatenate([first, rows.astype(np.int32)]), ((0, 0), (1, 1)), constant_values=VOID)
    return _junctions(block, top)


def last_junction_row(last: np.ndarray, bottom: int) -> np.ndarray:
    """The junctions on the raster's bottom edge (corner row ``bottom``), below its last row ``last``."""
    block = np.pad(np.stack([last.astype(np.int32), np.full(len(last), VOID, np.int32)]),
                   ((0, 0), (1, 1)), constant_values=VOID)
    return _junctions(block, bottom)


def _junctions(block: np.ndarray, top: int) -> np.ndarray:
    a, b, c, d = block[:-1, :-1], block[:-1, 1:], block[1:, :-1], block[1:, 1:]
    distinct = 1 + (b != a) + ((c != a) & (c != b)) + ((d != a) & (d != b) & (d != c))
    ys, xs = np.nonzero(distinct >= 3)
    return np.stack([xs, ys + top], axis=1)


class StripVectorizer:
    """Feed (rows, width) labels top to bottom with :meth:`add`; :meth:`finish` gives the :class:`Regions`.

    ``nodata``: the label value that is no class (never a polygon). ``junctions``: also collect the
    points :func:`junction_rows` finds (needed to simplify the polygons as a coverage)."""

    def __init__(self, height: int, width: int, nodata: Optional[int] = None, junctions: bool = False):
        self.height, self.width, self.nodata = height, width, nodata
        self.done_geoms: List = []
        self.done_classes: List[int] = []
        self.open: Dict[int, Tuple[object, int]] = {}  # piece id -> (geometry, class) of unfinished regions
        self.parent: Dict[int, int] = {}
        self.members: Dict[int, List[int]] = {}  # union-find root -> piece ids
        self.bottom_ids: List[int] = []  # pieces of the last strip reaching its lower edge
        self.last_row: Optional[np.ndarray] = None
        self.next_row, self.next_id = 0, 0
        self.corners: Optional[List[np.ndarray]] = [] if junctions else None

    def add(self, rows: np.ndarray, top: int) -> None:
        """Vectorise the (h, width) labels of rows [top, top + h) (the next rows, in order)."""
        if top != self.next_row or rows.shape[1] != self.width:
            raise ValueError(f"strip at row {top} of width {rows.shape[1]}: expected row {self.next_row}, "
                             f"width {self.width}")
        rows = as_polygonizable(rows)
        valid = None if self.nodata is None else rows != self.nodata
        if self.corners is not None:
            voided = rows if valid is None else np.where(valid, rows.astype(np.int32), VOID)
            self.corners.append(junction_rows(self._last_voided(), voided, top))
        bottom = top + rows.shape[0]
        edge_ids = self._pieces(rows, valid, top, bottom)
        self._join(rows[0], top, edge_ids)
        self._close(edge_ids, bottom)
        self.last_row, self.next_row = rows[-1].copy(), bottom

    def _last_voided(self) -> Optional[np.ndarray]:
        if self.last_row is None or self.nodata is None:
            return self.last_row
        return np.where(self.last_row != self.nodata, self.last_row.astype(np.int32), VOID)

    def _pieces(self, rows: np.ndarray, valid: Optional[np.ndarray], top: int, bottom: int) -> List[int]:
        """Polygonize one strip; finished regions are kept, pieces reaching an inner strip edge get ids."""
        import shapely
        from affine import Affine
        from rasterio.features import shapes

        edge_ids = []
        for shape, value in shapes(rows, mask=valid, connectivity=4, transform=Affine.translation(0, top)):
            geom = shapely.geometry.shape(shape)
            _, miny, _, maxy = geom.bounds
            at_top, at_bottom = top > 0 and miny == top, bottom < self.height and maxy == bottom
            if not (at_top or at_bottom):
                self.done_geoms.append(geom)
                self.done_classes.append(int(value))
                continue
            pid, self.next_id = self.next_id, self.next_id + 1
            self.open[pid] = (geom, int(value))
            self.parent[pid], self.members[pid] = pid, [pid]
            edge_ids.append(pid)
        return edge_ids

    def _join(self, first_row: np.ndarray, top: int, edge_ids: List[int]) -> None:
        """Union the pieces above and below the edge at ``top`` wherever the same class touches across it."""
        if top == 0 or not self.bottom_ids:
            return
        xs = edge_runs(self.last_row, first_row, self.nodata)
        if not len(xs):
            return
        above = self._locate(self.bottom_ids, xs + 0.5, top - 0.5)
        below = self._locate([i for i in edge_ids if self.open[i][0].bounds[1] == top], xs + 0.5, top + 0.5)
        for a, b in zip(above, below):
            self._union(a, b)

    def _locate(self, ids: List[int], xs: np.ndarray, y: float) -> np.ndarray:
        """The piece (of ``ids``) holding each point (x, y); every point is inside exactly one pixel's piece."""
        import shapely

        tree = shapely.STRtree([self.open[i][0] for i in ids])
        point_idx, piece_idx = tree.query(shapely.points(xs, np.full_like(xs, y)), predicate="within")
        found = np.full(len(xs), -1, np.int64)
        found[point_idx] = np.asarray(ids)[piece_idx]
        if (found < 0).any():
            raise RuntimeError(f"no piece found under {int((found < 0).sum())} edge pixel(s) at row {y}")
        return found

    def _find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra].extend(self.members.pop(rb))

    def _close(self, edge_ids: List[int], bottom: int) -> None:
        """Finish every group none of whose pieces reaches the edge at ``bottom``; keep the others open."""
        reaching = [i for i in edge_ids if bottom < self.height and self.open[i][0].bounds[3] == bottom]
        still_open = {self._find(i) for i in reaching}
        for root in {self._find(i) for i in self.bottom_ids + edge_ids} - still_open:
            self._finish_group(root)
        self.bottom_ids = reaching

    def _finish_group(self, root: int) -> None:
        ids = self.members.pop(root)
        geoms = [self.open[i][0] for i in ids]
        self.done_geoms.append(merge_pieces(geoms))
        self.done_classes.append(self.open[ids[0]][1])
        for i in ids:
            del self.open[i], self.parent[i]

    def finish(self) -> Regions:
        """The regions of the whole raster (all rows must have been added)."""
        import shapely

        if self.next_row != self.height:
            raise ValueError(f"labels end at row {self.next_row} of {self.height}")
        for root in list(self.members):
            self._finish_group(root)
        junctions = None
        if self.corners is not None:
            if self.last_row is not None:
                self.corners.append(last_junction_row(self._last_voided(), self.height))
            xy = np.concatenate(self.corners) if self.corners else np.zeros((0, 2))
            junctions = shapely.points(xy.astype(np.float64))
        return Regions(np.array(self.done_geoms, dtype=object).reshape(-1),
                       np.asarray(self.done_classes, np.int32), junctions)


def edge_runs(above: np.ndarray, below: np.ndarray, nodata: Optional[int]) -> np.ndarray:
    """Columns starting the runs along an edge over which the same class continues: (K,) float64.

    A run is a stretch where the class above, the class below and their equality all stay the same;
    one run joins one piece above with one piece below (a row's run of one class is one region)."""
    same = above == below
    if nodata is not None:
        same &= above != nodata
    change = np.ones(len(above), bool)
    change[1:] = (above[1:] != above[:-1]) | (below[1:] != below[:-1])
    return np.nonzero(change & same)[0].astype(np.float64)


def merge_pieces(geoms: List) -> object:
    """One polygon from the edge-sharing pieces of a region: their union (exact: the pieces meet along
    pixel edges at integer coordinates) without the vertices the cuts left along straight sides."""
    import shapely

    if len(geoms) == 1:
        return geoms[0]
    merged = shapely.union_all(geoms)  # not coverage_union_all: the pieces' vertices along a cut differ
    # tolerance 0 drops only vertices exactly on the line through their neighbours (the cut points), as
    # GDAL's polygonizer leaves none; there is no shapely function named for just that
    return shapely.simplify(merged, 0.0)
