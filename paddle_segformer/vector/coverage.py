"""The regions as a coverage: small regions merged into a neighbour, shared vertices made to match, and
simplification that keeps neighbours sharing their edges (no gaps, no overlaps).

Coordinates here are pixel coordinates (integers), where shared edges are exact.
"""
from __future__ import annotations

import heapq
import logging
from collections import defaultdict
from typing import Dict, List, Tuple

import numpy as np

from .areas import chunks

logger = logging.getLogger(__name__)


def shared_edges(geoms: np.ndarray, small: np.ndarray) -> Dict[int, Dict[int, float]]:
    """For each index in ``small``: {neighbour index: length of the edge they share} (corner contacts,
    length 0, are not neighbours)."""
    import shapely

    tree = shapely.STRtree(geoms)
    which, other = tree.query(geoms[small], predicate="intersects")
    mine = small[which]
    keep = mine != other
    mine, other = mine[keep], other[keep]
    lengths = shapely.length(shapely.intersection(geoms[mine], geoms[other]))
    adjacency: Dict[int, Dict[int, float]] = {int(i): {} for i in small}
    for i, j, length in zip(mine.tolist(), other.tolist(), lengths.tolist()):
        if length > 0:
            adjacency[i][j] = length
    return adjacency


class _Merger:
    """Union-find of regions; a small region joins the neighbour it shares the longest edge with."""

    def __init__(self, areas: np.ndarray, adjacency: Dict[int, Dict[int, float]]):
        self.areas = areas.astype(np.float64).copy()
        self.adjacency = adjacency
        self.parent = np.arange(len(areas))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = int(self.parent[i])
        return i

    def best_neighbour(self, i: int) -> int:
        """The root sharing the longest edge with root ``i`` (ties: the larger, then the lower index); -1 if none."""
        totals: Dict[int, float] = defaultdict(float)
        for j, length in self.adjacency[i].items():
            root = self.find(j)
            if root != i:
                totals[root] += length
        if not totals:
            return -1
        return max(totals, key=lambda r: (totals[r], self.areas[r], -r))

    def join(self, small: int, into: int) -> None:
        self.parent[small] = into
        self.areas[into] += self.areas[small]
        if into in self.adjacency:  # a small neighbour: it inherits the edges
            for j, length in self.adjacency.pop(small).items():
                self.adjacency[into][j] = self.adjacency[into].get(j, 0.0) + length


def merge_small(geoms: np.ndarray, class_id: np.ndarray, areas: np.ndarray,
                min_area: float) -> Tuple[np.ndarray, np.ndarray, int]:
    """Merge every region of the noded coverage ``geoms`` (:func:`node_coverage`) whose area (``areas``,
    (N,)) is under ``min_area``, smallest first, into the neighbour it shares the longest edge with
    (repeatedly: a merged region still too small merges on). A region with no neighbour (only nodata
    around) is kept. ``geoms`` is taken over (changed in place). Returns (geometry, class_id, merged count)."""
    small = np.nonzero(areas < min_area)[0]
    if not len(small):
        return geoms, class_id, 0
    merger = _Merger(areas, shared_edges(geoms, small))
    heap = [(float(areas[i]), int(i)) for i in small]
    heapq.heapify(heap)
    merged = 0
    while heap:
        area, i = heapq.heappop(heap)
        if merger.find(i) != i or area != merger.areas[i]:
            continue  # merged already, or an outdated entry
        into = merger.best_neighbour(i)
        if into < 0:
            continue
        merger.join(i, into)
        merged += 1
        if merger.areas[into] < min_area:
            heapq.heappush(heap, (float(merger.areas[into]), into))
    roots = np.array([merger.find(i) for i in range(len(geoms))])
    return _dissolve(geoms, roots), class_id[np.unique(roots)], merged


def _dissolve(geoms: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """One geometry per distinct root (in ascending root order): the union of its members, which are
    noded (:func:`node_coverage`): :func:`shapely.coverage_union_all` dissolves their shared edges
    (8x faster than an overlay union here) and keeps the other vertices, so the result stays noded.
    In place, group by group (``geoms`` is taken over): the members are let go as each union is made, so
    memory never holds the coverage twice."""
    import shapely

    groups: Dict[int, List[int]] = defaultdict(list)
    for i, root in enumerate(roots.tolist()):
        groups[root].append(i)
    for root, members in groups.items():
        if len(members) > 1:
            union = shapely.coverage_union_all(geoms[members])
            geoms[members] = None
            geoms[root] = union
    return geoms[np.array(sorted(groups), dtype=np.int64)]


def node_coverage(geoms: np.ndarray, junctions: np.ndarray) -> np.ndarray:
    """(In place, and returned.) Add to every polygon the ``junctions`` (points where three or more regions
    meet) its boundary runs straight through, so that neighbours' shared edges have the same vertices: what
    GEOS's coverage functions require (GDAL's polygonizer leaves those vertices out of the straight side).

    :func:`shapely.snap` with a tolerance under half a pixel inserts exactly the points lying on a segment."""
    import shapely

    if not len(geoms) or not len(junctions):
        return geoms
    which, point = shapely.STRtree(junctions).query(geoms, predicate="intersects")
    if not len(which):
        return geoms
    touched, dense = np.unique(which, return_inverse=True)
    refs = shapely.multipoints(junctions[point], indices=dense)
    for part in chunks(geoms[touched]):  # in place: see in_place
        geoms[touched[part]] = shapely.snap(geoms[touched[part]], refs[part], 0.25)
    return geoms


def simplify_coverage(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """:func:`shapely.coverage_simplify` of a noded coverage (``tolerance`` in the geometries' units): edges
    shared by two regions are simplified once for both; the coverage's outer boundary (the raster's edges,
    nodata outlines) is kept, so the valid area stays exact. Refuses to hand on an invalid coverage."""
    import shapely

    if not len(geoms) or tolerance <= 0:
        return geoms
    out = shapely.coverage_simplify(geoms, tolerance, simplify_boundary=False)
    if not shapely.coverage_is_valid(out):
        raise RuntimeError("coverage simplification gave overlapping polygons (please report this raster)")
    return out
