"""Cost of the wholeness check (paddle_segformer.io.integrity) beside the decode it guards.

    python scripts/bench_image_check.py                # a 256^2 demo tile and a 2048^2 picture, JPG and PNG
    python scripts/bench_image_check.py --sizes 256

Per size and format: the structural check on the bytes, OpenCV's full decode (+ BGR -> RGB, what
read_image does), and Pillow's decode with ``load()`` (the other way to find a file cut short: a second
decode). One OpenCV thread, best of 5 rounds.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from typing import Callable

import cv2
import numpy as np

from paddle_segformer.data.synthetic import make_tile
from paddle_segformer.io.integrity import check_complete
from paddle_segformer.machine import describe_machine


def best_ms(fn: Callable[[], object], reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best * 1000


def picture(size: int) -> np.ndarray:
    """A demo tile (synthetic parcels) scaled to ``size`` with some noise, BGR."""
    rgb = make_tile(np.random.default_rng(0), 256)[0]
    img = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += np.random.default_rng(1).integers(-10, 10, img.shape, dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)[:, :, ::-1]


def main(argv=None) -> int:
    from PIL import Image

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 2048])
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    print(describe_machine(1))
    print("| image | bytes | check ms | OpenCV decode ms | Pillow decode ms | check / decode |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        for ext in (".jpg", ".png"):
            data = cv2.imencode(ext, picture(size), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            arr = np.frombuffer(data, np.uint8)
            reps = max(1, 2_000_000 // (size * size))

            def pillow() -> np.ndarray:
                with Image.open(io.BytesIO(data)) as im:
                    return np.asarray(im)

            check = best_ms(lambda: check_complete("bench", data), reps * 10)
            decode = best_ms(lambda: cv2.cvtColor(cv2.imdecode(arr, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB), reps)
            print(f"| {size}^2 {ext} | {len(data):,} | {check:.4f} | {decode:.2f} | {best_ms(pillow, reps):.2f} | "
                  f"{100 * check / decode:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
