"""Peak memory and time of whole-scene prediction in tiles, against the in-memory reference.

    python scripts/bench_scene_memory.py                      # 20,000 x 20,000 4-band uint16, MiT-B0
    python scripts/bench_scene_memory.py --size 6000 --ref_size 3072

Each measurement runs in its own process (peak resident memory = that process's VmHWM):
- reference: PaddleSeg's own sliding-window inference (paddleseg.core.infer.slide_inference) on the
  scene read whole into memory, with the same tile and stride; it keeps the image and the full
  logits in memory, so it is run on a smaller scene (--ref_size);
- ours: paddle_segformer.inference.tiled.predict_scene, windows read from disk, finished rows written
  to a GeoTIFF, through the default runtime ("tiled") and, as before the fast runtimes, the dynamic
  graph ("tiled-dynamic"); both on the smaller scene (ratios), the default one on the full scene (the
  target: < 2.5 GB), the dynamic one there too with --full_dynamic.
Ratios are against the first row of the same scene size (the reference, else tiled-dynamic).
Random weights (nothing can be downloaded here); speed does not depend on them.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from paddle_segformer.inference.tiled import Tiling
from paddle_segformer.machine import describe_machine, peak_rss_mib, prepare_env


def make_scene(path: str, size: int, bands: int = 4, rows: int = 1024) -> None:
    """A (size x size x bands) uint16 GeoTIFF written in strips (bounded memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    if os.path.exists(path):
        return
    rng = np.random.default_rng(0)
    profile = dict(driver="GTiff", width=size, height=size, count=bands, dtype="uint16", crs="EPSG:32650",
                   transform=Affine(10, 0, 500000, 0, -10, 3500000), tiled=True, blockxsize=512, blockysize=512,
                   nodata=0)
    tmp = path + ".part"
    with rasterio.open(tmp, "w", **profile) as dst:
        for top in range(0, size, rows):
            h = min(rows, size - top)
            yy, xx = np.mgrid[top:top + h, 0:size]
            base = 3000 + 1500 * np.sin(yy / 97.0) * np.cos(xx / 131.0)
            strip = np.stack([base + 400 * b + rng.normal(0, 200, base.shape) for b in range(bands)])
            dst.write(np.clip(strip, 1, 65535).astype(np.uint16), window=Window(0, top, size, h))
    os.replace(tmp, path)


def _model(bands: int):
    import paddle

    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(0)
    model = SegFormer(4, mit("b0", in_channels=bands))
    model.eval()
    return model


def _logits_fn(mode: str, model, cache_dir: str):
    """(N, C, h, w) -> (N, 4, h, w) logits: the default runtime ("tiled", as predict.py --tile uses it)
    or the dynamic-graph model ("tiled-dynamic", the path before the fast runtimes)."""
    import paddle

    if mode == "tiled":
        from paddle_segformer.inference.backends import create_backend
        from paddle_segformer.inference.options import RuntimeOptions
        from paddle_segformer.inference.upsample import upsample_logits

        backend = create_backend(model, RuntimeOptions(cache_dir=cache_dir))
        return lambda batch: upsample_logits(backend(batch), batch.shape[2:], backend.align_corners)

    def dynamic(batch):
        with paddle.no_grad():
            return model(paddle.to_tensor(batch))[0].numpy()

    return dynamic


def worker(mode: str, src: str, dst: str, tile: int, overlap: int, batch_size: int) -> dict:
    """One run; ``seconds`` excludes building the model and its runtime (``setup_seconds``: the
    one-time export and conversion, cached for later runs)."""
    import paddle

    from paddle_segformer.io.raster import read_meta, read_raster, write_label_raster

    meta = read_meta(src)
    setup = time.time()
    model = _model(meta.count)
    if mode != "reference":
        from paddle_segformer.inference.tiled import predict_scene

        logits_fn = _logits_fn(mode, model, os.path.join(os.path.dirname(dst), "cache"))

    def normalise(x):
        return (x.astype(np.float32) - 3500.0) / 1500.0

    start = time.time()
    if mode == "reference":
        from paddleseg.core.infer import slide_inference

        image, _ = read_raster(src)
        x = paddle.to_tensor(normalise(image).transpose(2, 0, 1)[None])
        del image
        with paddle.no_grad():
            logits = slide_inference(model, x, crop_size=(tile, tile), stride=(tile - overlap, tile - overlap))
            labels = paddle.argmax(logits, axis=1).numpy()[0].astype(np.uint8)
        write_label_raster(dst, labels, meta)
    else:
        predict_scene(logits_fn, normalise, src, dst, 4,
                      tiling=Tiling(tile=tile, overlap=overlap, batch_size=batch_size), progress=sys.stderr.isatty())
    seconds = time.time() - start
    return {"mode": mode, "size": meta.height, "seconds": seconds, "setup_seconds": start - setup,
            "peak_rss_mib": peak_rss_mib()}


def measure(mode: str, src: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--src", src, "--tile", str(args.tile),
           "--overlap", str(args.overlap), "--batch_size", str(args.batch_size), "--out_dir", args.out_dir]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{mode} on {src} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    prepare_env()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=20000)
    p.add_argument("--ref_size", type=int, default=4096, help="scene side for the in-memory reference")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=1, help="tiles per forward pass (1 is fastest on a CPU)")
    p.add_argument("--out_dir", default="bench_output")
    p.add_argument("--full_dynamic", action="store_true",
                   help="also run the dynamic-graph tiling on the full scene (slow), for the speed-up there")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--src", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.worker:
        dst = os.path.join(args.out_dir, f"{args.worker}_{os.path.basename(args.src)}")
        print(json.dumps(worker(args.worker, args.src, dst, args.tile, args.overlap, args.batch_size)))
        return 0
    small, big = (os.path.join(args.out_dir, f"scene_{n}.tif") for n in (args.ref_size, args.size))
    for path, n in ((small, args.ref_size), (big, args.size)):
        print(f"scene {n} x {n} x 4 uint16 -> {path}", flush=True)
        make_scene(path, n)
    rows = [measure("reference", small, args), measure("tiled-dynamic", small, args), measure("tiled", small, args)]
    print(f"small scene measured; now the {args.size} px scene (this takes a while)", flush=True)
    if args.full_dynamic:
        rows.append(measure("tiled-dynamic", big, args))
    rows.append(measure("tiled", big, args))
    print(f"\n{describe_machine(int(os.environ.get('OMP_NUM_THREADS', 1)))}")
    print(f"MiT-B0, tile {args.tile}, overlap {args.overlap}, batch {args.batch_size}")
    print("| run | scene | peak RSS (MiB) | time (s) | Mpx/s | RSS / reference | time / reference |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    names = {"reference": "PaddleSeg slide_inference, scene in memory",
             "tiled-dynamic": "paddle_segformer tiled, from disk, dynamic graph (before)",
             "tiled": "paddle_segformer tiled, from disk, default runtime"}
    for r in rows:
        mpx = r["size"] ** 2 / 1e6 / r["seconds"]
        ref = next((x for x in rows if x["size"] == r["size"] and x["mode"] != "tiled"), None)
        ratio_rss = f"{r['peak_rss_mib'] / ref['peak_rss_mib']:.2f}" if ref else "-"
        ratio_t = f"{r['seconds'] / ref['seconds']:.2f}" if ref else "-"
        print(f"| {names[r['mode']]} | {r['size']}^2 | {r['peak_rss_mib']:.0f} | {r['seconds']:.0f} | {mpx:.2f} "
              f"| {ratio_rss} | {ratio_t} |")
    target = rows[-1]["peak_rss_mib"] * 2 ** 20 < 2.5e9
    print(f"\ntarget (peak < 2.5 GB = {2.5e9 / 2 ** 20:.0f} MiB at {args.size}^2): {'met' if target else 'NOT met'}")
    return 0 if target else 1


if __name__ == "__main__":
    sys.exit(main())
