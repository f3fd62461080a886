"""``python vectorize.py --labels PATH --out FILE [--min_area A] [--simplify T] [--classes ...] [--config CFG]``."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

from ..vector.options import VectorOptions
from .runtime import run_cli


def class_names(config: Optional[str], opts: Optional[List[str]] = None) -> List[str]:
    """Class names from a config's dataset (none without a config)."""
    if not config:
        return []
    from ..integration.config import load_config
    from .inference import dataset_class_names

    _, builder = load_config(config, opts=opts)
    return dataset_class_names(builder, config)


def vectorize_labels(labels: str, options: VectorOptions, config: Optional[str] = None,
                     opts: Optional[Sequence[str]] = None):
    """Polygons of a label GeoTIFF, a folder of them or a predict.py save folder -> ``options.out`` and the
    per-class table beside it; returns (PolygonTable, table rows)."""
    from ..vector.pipeline import vectorize

    return vectorize(labels, options, class_names(config, list(opts) if opts else None))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Label GeoTIFF(s) to polygons: one per connected region of a class, "
                                            "with class, area and perimeter, and a per-class table.")
    p.add_argument("--labels", required=True,
                   help="a label GeoTIFF, a folder of them, or a predict.py save folder (its geotiff/)")
    VectorOptions.add_arguments(p)
    p.add_argument("--config", help="take class names from this config's dataset")
    p.add_argument("--opts", nargs="+", help="config overrides key=value")
    return p


def run(argv: Optional[List[str]] = None):
    args = vars(build_parser().parse_args(argv))
    options = VectorOptions.pop_arguments(args)
    return vectorize_labels(args["labels"], options, args["config"], args["opts"])


def main(argv: Optional[List[str]] = None) -> int:
    from ..vector.writers import format_table

    table, rows = run(argv)
    print(format_table(rows, table.unit))
    return 0


if __name__ == "__main__":  # python -m paddle_segformer.cli.vectorize, as the root script
    sys.exit(run_cli(main, uses_paddle=False))
