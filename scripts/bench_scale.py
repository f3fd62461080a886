"""Images per second of predict.py as 1 process x 2 threads against 2 processes x 1 thread
(``paddle.distributed.launch --nproc_per_node 2``), on this machine.

    python scripts/bench_scale.py                        # 32 JPGs of 512^2, MiT-B0 (4 classes), random weights
    python scripts/bench_scale.py --count 16 --size 256
    python scripts/bench_scale.py --scene --size 2048     # one GeoTIFF scene, split by rows over 2 processes

Both rows run the real command on the same folder into fresh save folders, with ``--backend paddle`` by default
(the one runtime every install has). "loop images/s" is the images over the slowest process's prediction
loop (``predict_report.json``'s seconds: reading, the model, writing); "wall images/s" includes starting
Python, Paddle and the model in every process. The projection to N nodes assumes files >> processes, the
save folder shared and fast enough, and nodes like this one: N times the 2-process loop rate.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import yaml
from bench_folder import make_images  # a sibling script, as bench_train.py imports bench_harness

from paddle_segformer.machine import prepare_env

REPO = Path(__file__).resolve().parents[1]


def _checkpoint(config: Path, out: Path) -> Path:
    import paddle

    import paddle_segformer
    from paddle_segformer.integration.config import load_config

    paddle_segformer.register()
    paddle.seed(0)
    _, builder = load_config(str(config))
    paddle.save(builder.model.state_dict(), str(out))
    return out


def _config(root: Path) -> Path:
    from paddle_segformer.data.synthetic import write_dataset

    write_dataset(str(root / "data"), n_train=4, n_test=0, size=64, seed=0)
    cfg = {"_base_": str(REPO / "configs" / "segformerb0.yml"), "model": {"backbone": {"pretrained": None}},
           "train_dataset": {"dataset_root": str(root / "data")}, "val_dataset": {"dataset_root": str(root / "data")}}
    path = root / "bench.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def run_row(cmd: List[str], threads: int, save_dir: Path, cwd: Path) -> Dict[str, float]:
    """Run one row's command; its wall time and the loop time of its report."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads((save_dir / "predict_report.json").read_text(encoding="utf-8"))
    return {"written": report["counts"]["written"], "loop": report["seconds"], "wall": wall}


def _scene(folder: Path, size: int) -> None:
    """One smooth random 3-band uint8 GeoTIFF scene of ``size``^2 (10 m pixels, UTM 33N)."""
    import cv2
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    small = np.random.default_rng(0).integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
    pixels = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC).transpose(2, 0, 1)
    with rasterio.open(folder / "scene.tif", "w", driver="GTiff", height=size, width=size, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000.0, 4000000.0, 10.0, 10.0)) as dst:
        dst.write(pixels)


def _inputs(root: Path, args: argparse.Namespace) -> List[str]:
    """Write the inputs (``--count`` JPGs, or one ``--scene``) and the model; predict.py's arguments."""
    (root / "images").mkdir()
    if args.scene:
        _scene(root / "images", args.size)
    else:
        make_images(str(root / "images"), args.count, args.size)
    config = _config(root)
    checkpoint = _checkpoint(config, root / "model.pdparams")
    tiling = ["--tile", str(args.tile), "--overlap", str(args.tile // 8)] if args.scene else []
    return [str(REPO / "predict.py"), "--config", str(config), "--model_path", str(checkpoint),
            "--image_path", str(root / "images"), "--backend", args.backend] + tiling


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--scene", action="store_true",
                   help="one GeoTIFF scene of --size^2 predicted in --tile tiles instead of --count JPGs")
    p.add_argument("--tile", type=int, default=512, help="tile size of --scene (overlap: tile / 8)")
    p.add_argument("--backend", default="paddle")
    args = p.parse_args()
    prepare_env()
    from paddle_segformer.machine import describe_machine

    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        root = Path(tmp)
        predict = _inputs(root, args)
        launch = ["-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(root / "log")]
        runs = [("1 process x 2 threads", [], 2), ("2 processes x 1 thread", launch, 1)]
        if args.scene:  # what the scene costs one process of the two when it is not split
            runs.insert(0, ("1 process x 1 thread", [], 1))
        for name, launcher, threads in runs:
            save = root / name.replace(" ", "_")
            rows[name] = run_row([sys.executable] + launcher + predict + ["--save_dir", str(save)], threads, save, root)
    print(describe_machine(2))
    what = f"one GeoTIFF scene of {args.size}^2 in {args.tile} px tiles" if args.scene else \
        f"{args.count} JPGs of {args.size}^2"
    print(f"\n### predict.py on {what}, MiT-B0 (4 classes), random weights, --backend {args.backend}\n")
    print("| run | loop s | loop images/s | wall s | wall images/s |")
    print("| --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['loop']:.1f} | {row['written'] / row['loop']:.2f} | {row['wall']:.1f} | "
              f"{row['written'] / row['wall']:.2f} |")
    two = rows["2 processes x 1 thread"]
    rate = two["written"] / two["loop"]
    if args.scene:
        alone = rows["1 process x 1 thread"]["loop"]
        print(f"\none scene over 2 processes (split by rows): {alone / two['loop']:.2f}x faster than one process x 1 "
              f"thread (what it took unsplit, the other process idle), "
              f"{rows['1 process x 2 threads']['loop'] / two['loop']:.2f}x than one process x 2 threads")
        return 0
    print(f"\nprojection: N such nodes x 2 processes ~ {rate:.2f} x N images/s (files >> processes, the shared "
          f"save folder not the bottleneck)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
