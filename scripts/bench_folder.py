"""Images per second of a folder prediction against the model-only rate, on this machine.

    python scripts/bench_folder.py                          # 24 JPGs of 512^2, MiT-B0, 150 classes
    python scripts/bench_folder.py --variant b3 --count 16

"model only" runs the default runtime and the label kernel on images already decoded and normalised in
memory, one after another (all threads on one image); "model only, in flight" the same with the images in
flight side by side that a folder prediction uses (paddle_segformer.inference.lanes: one OpenVINO stream
each); "folder" is ``predict_folder`` (predict.py's loop) on the same images as JPG files: reading,
decoding, normalising, the same computation, and writing the label PNG, the pseudo-colour PNG and the
overlay JPG of each (made durable in groups of images, paddle_segformer.io.commit_group). The loop reads
ahead and writes behind on threads, so the folder rate should stay close to the model-only one (target:
at least 0.95 of it, one image at a time). The three are measured in turn in one process; a ratio is the
median over folder rounds of the folder rate over the mean of the two rates of the other row around it
(this machine's speed drifts by up to 30 % from one few-second round to the next, so only neighbouring
rounds are compared). Random weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from paddle_segformer.machine import prepare_env


def make_images(folder: str, count: int, size: int) -> None:
    """``count`` smooth random RGB JPGs (compressible like photographs, unlike white noise)."""
    import cv2

    rng = np.random.default_rng(0)
    for i in range(count):
        small = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(os.path.join(folder, f"T{i:05d}.jpg"), img)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="b0")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--backend", default="auto")
    args = p.parse_args()
    prepare_env()
    import logging

    import paddle
    from paddleseg.transforms import Normalize

    from paddle_segformer.inference.backends import create_backend
    from paddle_segformer.inference.folder import predict_folder
    from paddle_segformer.inference.lanes import Lanes
    from paddle_segformer.inference.options import RuntimeOptions
    from paddle_segformer.inference.predictor import Predictor
    from paddle_segformer.machine import describe_machine
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    logging.basicConfig(level=logging.WARNING)
    paddle.seed(0)
    model = SegFormer(args.classes, mit(args.variant))
    model.eval()
    with tempfile.TemporaryDirectory(prefix="bench_folder_") as tmp:
        images, cache = os.path.join(tmp, "images"), os.path.join(tmp, "cache")
        os.makedirs(images)
        make_images(images, args.count, args.size)
        backend = create_backend(model, RuntimeOptions(args.backend, cache_dir=cache))
        predictor = Predictor(model, [Normalize()], backend=backend)
        inputs = [predictor.load(os.path.join(images, f)).chw for f in sorted(os.listdir(images))]
        predictor.predict_transformed(inputs[0], [])  # warm-up: shape-specialised session, kernels compiled
        predictor.predict_transformed(inputs[0], [])
        lanes = Lanes.for_folder(predictor, args.count)
        rates = {"model only": [], "model only, in flight": [], "folder": []}

        def in_flight() -> None:
            for future in [lanes.submit(lanes.predictor.predict_transformed, chw, []) for chw in inputs]:
                future.result()

        runs = {"model only": lambda: [predictor.predict_transformed(chw, []) for chw in inputs],
                "model only, in flight": in_flight if lanes else None,
                "folder": lambda: predict_folder(predictor, images, os.path.join(tmp, f"out{len(rates['folder'])}"),
                                                 args.classes)}
        if lanes:
            in_flight()
        for r in range(args.rounds + 1):
            for name, run in runs.items():
                if run is None or (name == "folder" and r == args.rounds):
                    continue
                start = time.perf_counter()
                summary = run()
                rates[name].append(len(inputs) / (time.perf_counter() - start))
                if name == "folder" and (summary.failed or len(summary.written) != len(inputs)):
                    raise RuntimeError(f"folder prediction failed on {summary.failed}")
        if lanes:
            lanes.__exit__()
    print(describe_machine(int(os.environ.get("OMP_NUM_THREADS", "2"))))
    print(f"\n### Folder of {args.count} JPGs, {args.size}^2, MiT-{args.variant.upper()}, {args.classes} classes, "
          f"runtime {backend.name}; {args.rounds} folder rounds, each between two rounds of each model-only row\n")
    print("| run | median images/s | rounds (images/s) |")
    print("| --- | --- | --- |")
    for name, values in rates.items():
        if values:
            print(f"| {name} | {statistics.median(values):.2f} | {' '.join(f'{v:.2f}' for v in values)} |")
    ratios = {name: statistics.median(f / ((a + b) / 2) for f, a, b in zip(rates["folder"], rates[name],
                                                                           rates[name][1:]))
              for name in ("model only", "model only, in flight") if rates[name]}
    for name, ratio in ratios.items():
        print(f"\nfolder / {name} (median over rounds, neighbouring rounds compared): {ratio:.3f}")
    ratio = ratios["model only"]
    print(f"target: folder rate at least 0.95 of the model-only rate: {'met' if ratio >= 0.95 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
