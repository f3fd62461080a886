"""The options of vectorising, one object for ``vectorize.py`` and ``predict.py --vector``."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Tuple

STRIP_ROWS = 512  # rows vectorised at a time: 512 x 20,000 labels are 10 MB; GDAL's polygonizer takes strips well


@dataclass(frozen=True)
class VectorOptions:
    """``out``: the polygon file (.gpkg, .fgb, .parquet, .geojson); ``min_area`` (square metres; pixel units
    without a CRS): smaller regions merge into the neighbour they share the longest edge with;
    ``simplify`` (CRS units): coverage simplification tolerance (0: the exact pixel outlines);
    ``classes``: class names by id (default: the config's dataset's, else class_0, ...)."""

    out: str
    min_area: float = 0.0
    simplify: float = 0.0
    classes: Optional[Tuple[str, ...]] = None
    strip_rows: int = STRIP_ROWS

    def __post_init__(self) -> None:
        if self.min_area < 0 or self.simplify < 0 or self.strip_rows < 1:
            raise ValueError(f"--min_area and --simplify must be >= 0 (got {self.min_area}, {self.simplify})")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        from .writers import driver_for

        driver_for(self.out)  # an unknown extension is refused before any work

    @property
    def noded(self) -> bool:
        """Merging and simplifying need the coverage noded (every shared vertex in both neighbours)."""
        return self.min_area > 0 or self.simplify > 0

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, out_flag: str = "--out", required: bool = True) -> None:
        """``<out_flag> --min_area --simplify --classes``."""
        p.add_argument(out_flag, dest="out", required=required, metavar="FILE",
                       help="polygons: .gpkg, .fgb, .parquet (GeoParquet) or .geojson; the per-class table "
                            "goes beside it as NAME.classes.csv / .json")
        p.add_argument("--min_area", type=float, default=0.0,
                       help="merge regions under this area (m^2) into the neighbour sharing the longest edge")
        p.add_argument("--simplify", type=float, default=0.0,
                       help="simplify as a coverage with this tolerance (CRS units); neighbours keep shared edges")
        p.add_argument("--classes", nargs="+", metavar="NAME", help="class names for ids 0, 1, ...")

    @classmethod
    def pop_arguments(cls, args: Dict[str, Any]) -> Optional["VectorOptions"]:
        """The options from parsed ``args`` (a dict; the flags are taken out); None when no output was asked."""
        given = {f.name: args.pop(f.name) for f in fields(cls) if f.name in args}
        given = {k: v for k, v in given.items() if v is not None}
        return cls(**given) if given.get("out") else None
