"""Time and peak memory of vectorising a label raster: ours (strips, stitched exactly) against rasterio's
whole-array ``shapes`` + shapely on the same raster.

    python scripts/bench_vectorize.py                        # 2000^2, 8000^2, 20000^2
    python scripts/bench_vectorize.py --sizes 2000 8000

Each row runs in its own process (peak resident memory = that process's high-water mark), on a synthetic
parcel map (uint8 GeoTIFF, 10 m pixels, fields of 4 classes with ragged borders, 0.1 % single-pixel specks,
a nodata band), made once per size and written in strips:
- reference: the raster read whole, ``rasterio.features.shapes`` over the array, each polygon made a
  shapely geometry, areas and perimeters;
- ours: ``paddle_segformer.vector`` in strips of 512 rows, the same polygons (vertex for vertex), areas and
  perimeters;
- ours, simplified: ``--simplify 10 --min_area 500`` (small regions merged, coverage noded and simplified).
Neither writes a file (writing costs the same for both).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from paddle_segformer.machine import describe_machine, peak_rss_mib

BLOCK = 80  # px: a field's side before its ragged borders
ROWS = 1024  # rows written at a time when making the raster


def make_labels(path: str, size: int) -> None:
    """A (size x size) uint8 parcel map with nodata 255, written in strips (bounded memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    if os.path.exists(path):
        return
    classes = np.random.default_rng(0).integers(0, 4, (size // BLOCK + 2,) * 2).astype(np.uint8)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:32650",
                   transform=Affine(10, 0, 500000, 0, -10, 3500000), tiled=True, blockxsize=512, blockysize=512,
                   compress="deflate", nodata=255)
    tmp = path + ".part"
    with rasterio.open(tmp, "w", **profile) as dst:
        for top in range(0, size, ROWS):
            h = min(ROWS, size - top)
            rng = np.random.default_rng(top)
            rows = np.arange(top, top + h)[:, None]
            cols = np.arange(size)[None] + (rows * 7919) % 7 - 3  # ragged borders
            strip = classes[rows // BLOCK, np.clip(cols, 0, size - 1) // BLOCK]
            strip[rng.random(strip.shape) < 0.001] = 4
            strip[(rows[:, 0] >= size // 3) & (rows[:, 0] < size // 3 + size // 50)] = 255
            dst.write(strip[None], window=Window(0, top, size, h))
    os.replace(tmp, path)


def worker(mode: str, src: str) -> dict:
    start = time.perf_counter()
    if mode == "reference":
        import rasterio
        import shapely
        from rasterio.features import shapes

        with rasterio.open(src) as f:
            labels, transform, nodata = f.read(1), f.transform, f.nodata
        geoms = [shapely.geometry.shape(s) for s, _ in shapes(labels, mask=labels != nodata, transform=transform)]
        area, _ = shapely.area(geoms), shapely.length(geoms)
        count = len(geoms)
    else:
        from paddle_segformer.vector.options import VectorOptions
        from paddle_segformer.vector.pipeline import read_regions, regions_to_table

        options = VectorOptions("unused.gpkg", **({"simplify": 10.0, "min_area": 500.0} if mode == "simplified"
                                                  else {}))
        regions, meta = read_regions(src, options)
        table = regions_to_table(regions, meta, options, [], "bench")
        count, area = len(table.geometry), table.area
    return {"mode": mode, "seconds": time.perf_counter() - start, "polygons": count,
            "area_km2": float(np.sum(area)) / 1e6, "peak_rss_mib": peak_rss_mib()}


def measure(mode: str, src: str) -> dict:
    run = subprocess.run([sys.executable, __file__, "--worker", mode, "--src", src], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{mode} on {src} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


NAMES = {"reference": "rasterio `shapes` on the whole array + shapely (reference)",
         "ours": "paddle_segformer.vector, strips of 512 rows",
         "simplified": "same + `--simplify 10 --min_area 500`"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 20000])
    p.add_argument("--out_dir", default="bench_output")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--src", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.src)))
        return 0
    os.makedirs(args.out_dir, exist_ok=True)
    rows = []
    for size in args.sizes:
        path = os.path.join(args.out_dir, f"labels_{size}.tif")
        print(f"labels {size} x {size} -> {path}", file=sys.stderr, flush=True)
        make_labels(path, size)
        for mode in NAMES:
            rows.append(dict(measure(mode, path), size=size))
            print(f"  {mode}: {rows[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    print(describe_machine(int(os.environ.get("OMP_NUM_THREADS", 1))))
    print("| run | raster | polygons | valid km^2 | time (s) | peak RSS (MiB) | time / reference | RSS / reference |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ref = next(x for x in rows if x["size"] == r["size"] and x["mode"] == "reference")
        print(f"| {NAMES[r['mode']]} | {r['size']}^2 | {r['polygons']} | {r['area_km2']:.2f} | {r['seconds']:.1f} "
              f"| {r['peak_rss_mib']:.0f} | {r['seconds'] / ref['seconds']:.2f} "
              f"| {r['peak_rss_mib'] / ref['peak_rss_mib']:.2f} |")
    same = all(r["polygons"] == next(x["polygons"] for x in rows if x["size"] == r["size"])
               for r in rows if r["mode"] == "ours")
    print(f"\nours gives the reference's polygon count at every size: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
