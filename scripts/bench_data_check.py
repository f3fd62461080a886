"""Time of the data check that train.py runs before training, at the parcel competition's size.

    python scripts/bench_data_check.py                  # 66,653 pairs of 256^2 JPG + PNG label
    python scripts/bench_data_check.py --count 5000

Writes ``--count`` image / label pairs (copies of 64 generated tiles, so writing is quick; every file
is still read and decoded), then checks the list cold in one process (the reference: a plain loop),
cold on all cores (what train.py does) and again unchanged (the remembered result). Files are in the
page cache (just written), as after unzipping the competition archives. Target: the cold check of the
full competition list in well under a minute on 2 cores.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from paddle_segformer.data.check import check_pairs
from paddle_segformer.data.synthetic import make_tile
from paddle_segformer.machine import describe_machine

COMPETITION_PAIRS = 66653  # 遥感影像地块分割 training set


def write_pairs(root: Path, count: int) -> list:
    rng = np.random.default_rng(0)
    templates = []
    for _ in range(64):
        img, label = make_tile(rng, 256)
        jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        templates.append((jpg.tobytes(), cv2.imencode(".png", label)[1].tobytes()))
    (root / "img_train").mkdir()
    (root / "lab_train").mkdir()
    pairs = []
    for i in range(count):
        image, label = root / "img_train" / f"T{i:06d}.jpg", root / "lab_train" / f"T{i:06d}.png"
        image.write_bytes(templates[i % 64][0])
        label.write_bytes(templates[i % 64][1])
        pairs.append((str(image), str(label)))
    return pairs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=COMPETITION_PAIRS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_data_check_") as tmp:
        os.environ["PADDLE_SEGFORMER_CACHE"] = os.path.join(tmp, "cache")
        start = time.perf_counter()
        pairs = write_pairs(Path(tmp), args.count)
        print(f"wrote {args.count} pairs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        rows = [("cold, 1 process (reference)", dict(workers=1, use_cache=False)),
                ("cold, all cores (train.py)", dict(use_cache=True)),
                ("unchanged list (remembered)", dict(use_cache=True))]
        times = []
        for _, options in rows:
            start = time.perf_counter()
            check_pairs(pairs, 4, 3, progress=False, **options)
            times.append(time.perf_counter() - start)
    print(describe_machine(os.cpu_count() or 1))
    print(f"\n### Data check of {args.count} pairs (256^2 JPG + PNG label, 4 classes)\n")
    print("| run | s | pairs/s | time / reference | s for the competition's 66,653 pairs |")
    print("| --- | --- | --- | --- | --- |")
    for (name, _), seconds in zip(rows, times):
        print(f"| {name} | {seconds:.1f} | {args.count / seconds:.0f} | {seconds / times[0]:.2f} | "
              f"{seconds * COMPETITION_PAIRS / args.count:.1f} |")
    cold = times[1] * COMPETITION_PAIRS / args.count
    print(f"\ntarget: the competition's list checked cold in under 60 s: {cold:.0f} s, "
          f"{'met' if cold < 60 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
