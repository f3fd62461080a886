"""Parcels as a map: a georeferenced scene predicted, vectorised and drawn (the README's polygon picture).

Builds a scene GeoTIFF from ``--rows x --cols`` demo tiles (UTM zone 50N, 0.5 m pixels: a made-up place),
runs ``predict.py --vector`` on it with a trained demo model, and draws the polygons over the scene, coloured
by class, with the per-class table predict wrote beside them.

    bash scripts/demo.sh   # trains demo_output/train/best_model
    python scripts/polygon_figure.py --model_path demo_output/train/best_model --data demo_output/data \\
        --out demo_output/polygons --figure docs/images/polygons.png
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import List, Optional

import numpy as np

logger = logging.getLogger("polygon_figure")


def make_scene(data: str, path: str, rows: int, cols: int) -> str:
    """Mosaic the first ``rows * cols`` training tiles of ``data`` into a 3-band GeoTIFF at ``path``."""
    import rasterio
    from rasterio.transform import from_origin

    from paddle_segformer.io.image import list_images, read_image

    tiles = [read_image(p) for p in list_images(os.path.join(data, "img_train"))[: rows * cols]]
    if len(tiles) < rows * cols:
        raise ValueError(f"{data}/img_train: {len(tiles)} tiles, {rows * cols} needed")
    size = tiles[0].shape[0]
    scene = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)
    profile = {"driver": "GTiff", "height": scene.shape[0], "width": scene.shape[1], "count": 3, "dtype": "uint8",
               "crs": "EPSG:32650", "transform": from_origin(500000.0, 4400000.0, 0.5, 0.5)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(scene, -1, 0))
    logger.info("scene %s: %d x %d px from %d tiles of %d px", path, scene.shape[0], scene.shape[1], rows * cols, size)
    return path


def draw(scene: str, polygons: str, table_json: str, figure: str, class_names: List[str]) -> None:
    """The scene with the polygons' outlines and fills by class, and the per-class table as a caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyogrio
    import rasterio
    import shapely
    from matplotlib.patches import Patch

    from paddle_segformer.io.atomic import atomic_path

    with rasterio.open(scene) as src:
        image, bounds = np.moveaxis(src.read(), 0, -1), src.bounds
    _, geometry, field_data = pyogrio.raw.read(polygons, columns=["class_id"])[1:4]
    shapes, classes = shapely.from_wkb(geometry), field_data[0]
    colours = plt.get_cmap("tab10").colors
    fig, ax = plt.subplots(figsize=(7, 7.6), dpi=110)
    ax.imshow(image, extent=(bounds.left, bounds.right, bounds.bottom, bounds.top))
    for shape, cls in zip(shapes, classes):
        for part in getattr(shape, "geoms", [shape]):
            x, y = part.exterior.xy
            if class_names[int(cls)] != "other":  # the background class is outlined only
                ax.fill(x, y, color=colours[int(cls) % 10], alpha=0.3, linewidth=0)
            ax.plot(x, y, color=colours[int(cls) % 10], linewidth=0.8)
    with open(table_json, encoding="utf-8") as f:
        rows = json.load(f)["classes"]  # paddle_segformer.vector.writers.write_table
    caption = "   ".join(f"{r['class_name']}: {r['count']} polygons, {r['area'] / 1e4:.2f} ha ({100 * r['share']:.1f} %)"
                           for r in rows)
    ax.legend(handles=[Patch(color=colours[i % 10], label=n) for i, n in enumerate(class_names)],
              loc="upper right", fontsize=7)
    ax.set_title(f"{len(shapes)} polygons of a predicted scene (EPSG:32650, 0.5 m pixels)", fontsize=10)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_xlabel("easting (m)")
    ax.set_ylabel("northing (m)")
    fig.text(0.01, 0.01, caption, fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, format="png")


def run(argv: Optional[List[str]] = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model_path", required=True, help="a trained demo checkpoint (folder or model.pdparams)")
    p.add_argument("--config", default="configs/demo.yml")
    p.add_argument("--data", default="demo_output/data", help="the demo's tiles (img_train/)")
    p.add_argument("--out", default="demo_output/polygons")
    p.add_argument("--figure", default="docs/images/polygons.png")
    p.add_argument("--rows", type=int, default=3)
    p.add_argument("--cols", type=int, default=3)
    p.add_argument("--min_area", type=float, default=4.0, help="m^2 (16 pixels at 0.5 m)")
    p.add_argument("--simplify", type=float, default=0.5, help="m (one pixel)")
    args = p.parse_args(argv)
    from paddle_segformer.cli.predict import predict
    from paddle_segformer.data.synthetic import CLASS_NAMES  # the demo tiles' classes
    from paddle_segformer.vector.options import VectorOptions
    from paddle_segformer.vector.writers import table_paths

    os.makedirs(args.out, exist_ok=True)
    scene = make_scene(args.data, os.path.join(args.out, "scene.tif"), args.rows, args.cols)
    polygons = os.path.join(args.out, "parcels.gpkg")
    vector = VectorOptions(out=polygons, min_area=args.min_area, simplify=args.simplify)
    predict(args.config, args.model_path, scene, save_dir=os.path.join(args.out, "predict"), vector=vector)
    draw(scene, polygons, str(table_paths(polygons)["json"]), args.figure, list(CLASS_NAMES))
    logger.info("figure: %s", args.figure)
    return args.figure


if __name__ == "__main__":
    from paddle_segformer.cli.runtime import run_cli

    def main(argv: Optional[List[str]] = None) -> int:
        run(argv)
        return 0

    sys.exit(run_cli(main))
