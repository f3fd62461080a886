"""Images per second of a folder prediction against the model-only rate, on this machine.

    python scripts/bench_folder.py                          # 24 JPGs of 512^2, MiT-B0, 150 classes
    python scripts/bench_folder.py --variant b3 --count 16
    python scripts/bench_folder.py --precisions fp32 int8   # both, interleaved: INT8's folder rate against f32's

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
rounds are compared). With several ``--precisions`` every row is run for each, interleaved round by round
(INT8 calibrated on the folder's own images: a speed measurement), and the INT8 folder rate is compared with
the float32 one of the same round. Random weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

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


def _rows(model, precision: str, images: str, work: str, args: argparse.Namespace, prefix: str
          ) -> Tuple[Dict[str, Optional[Callable[[], object]]], object, str]:
    """The runs of one precision (``prefix`` + row name -> callable, None when not possible here), its lanes
    (or None) to close, and the runtime's name; the runtime's cache and the outputs go under ``work``."""
    from paddleseg.transforms import Normalize

    from paddle_segformer.inference.backends import create_backend
    from paddle_segformer.inference.folder import predict_folder
    from paddle_segformer.inference.int8 import Calibration
    from paddle_segformer.inference.lanes import Lanes
    from paddle_segformer.inference.options import RuntimeOptions
    from paddle_segformer.inference.predictor import Predictor

    files = sorted(os.path.join(images, name) for name in os.listdir(images))
    predictor = Predictor(model, [Normalize()])
    calibration = (Calibration.draw(files, len(files), lambda path: predictor.load(path).chw)
                   if precision == "int8" else None)
    options = RuntimeOptions(args.backend, precision, cache_dir=os.path.join(work, "cache"))
    predictor.attach(create_backend(model, options, calibration=calibration))
    inputs = [predictor.load(path).chw for path in files]
    predictor.predict_transformed(inputs[0], [])  # warm-up: shape-specialised session, kernels compiled
    predictor.predict_transformed(inputs[0], [])
    lanes = Lanes.for_folder(predictor, len(inputs))
    outputs: List[str] = []

    def in_flight() -> None:
        for future in [lanes.submit(lanes.predictor.predict_transformed, chw, []) for chw in inputs]:
            future.result()

    def folder() -> None:
        outputs.append(os.path.join(work, f"out-{precision}-{len(outputs)}"))
        summary = predict_folder(predictor, images, outputs[-1], args.classes)
        if summary.failed or len(summary.written) != len(inputs):
            raise RuntimeError(f"folder prediction failed on {summary.failed}")

    if lanes:
        in_flight()
    return ({prefix + "model only": lambda: [predictor.predict_transformed(chw, []) for chw in inputs],
             prefix + "model only, in flight": in_flight if lanes else None,
             prefix + "folder": folder}, lanes, predictor.backend.name)


def _measure(runs: Dict[str, Optional[Callable[[], object]]], count: int, rounds: int) -> Dict[str, List[float]]:
    """Images/s of each run, ``rounds`` rounds of each folder run and one more of the others around them."""
    rates: Dict[str, List[float]] = {name: [] for name, run in runs.items() if run is not None}
    for r in range(rounds + 1):
        for name in rates:
            if name.endswith("folder") and r == rounds:
                continue
            start = time.perf_counter()
            runs[name]()
            rates[name].append(count / (time.perf_counter() - start))
    return rates


def _report(rates: Dict[str, List[float]], precisions: List[str], prefix: Callable[[str], str]) -> None:
    print("| run | median images/s | rounds (images/s) |")
    print("| --- | --- | --- |")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):.2f} | {' '.join(f'{v:.2f}' for v in values)} |")
    for precision in precisions:
        folder = rates[prefix(precision) + "folder"]
        for row in ("model only", "model only, in flight"):
            other = rates.get(prefix(precision) + row)
            if other:
                ratio = statistics.median(f / ((a + b) / 2) for f, a, b in zip(folder, other, other[1:]))
                print(f"\n{prefix(precision)}folder / {row} (median over rounds, neighbouring rounds compared): "
                      f"{ratio:.3f}")
                if row == "model only":
                    print(f"target: folder rate at least 0.95 of the model-only rate: "
                          f"{'met' if ratio >= 0.95 else 'NOT met'}")
    if "fp32" in precisions and "int8" in precisions:
        ratio = statistics.median(i / f for i, f in zip(rates["int8: folder"], rates["fp32: folder"]))
        print(f"\nINT8 folder / f32 folder (median over rounds, same round): {ratio:.2f}x")
        print(f"target: INT8 end to end >= 1.5x faster than f32 end to end: {'met' if ratio >= 1.5 else 'NOT met'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="b0")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--backend", default="auto")
    p.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16", "int8"])
    args = p.parse_args()
    prepare_env()
    import logging

    import paddle

    from paddle_segformer.machine import describe_machine
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    logging.basicConfig(level=logging.WARNING)
    paddle.seed(0)
    model = SegFormer(args.classes, mit(args.variant))
    model.eval()
    prefix = (lambda precision: "") if len(args.precisions) == 1 else (lambda precision: f"{precision}: ")
    runs: Dict[str, Optional[Callable[[], object]]] = {}
    all_lanes, names = [], set()
    with tempfile.TemporaryDirectory(prefix="bench_folder_") as tmp:
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        make_images(images, args.count, args.size)
        for precision in args.precisions:
            rows, lanes, name = _rows(model, precision, images, tmp, args, prefix(precision))
            runs.update(rows)
            all_lanes.append(lanes)
            names.add(name)
        rates = _measure(runs, args.count, args.rounds)
        for lanes in all_lanes:
            if lanes:
                lanes.__exit__()
    print(describe_machine(int(os.environ.get("OMP_NUM_THREADS", "2"))))
    print(f"\n### Folder of {args.count} JPGs, {args.size}^2, MiT-{args.variant.upper()}, {args.classes} classes, "
          f"runtime {', '.join(sorted(names))}, {' / '.join(args.precisions)}; {args.rounds} folder rounds, each "
          f"between two rounds of each model-only row\n")
    _report(rates, args.precisions, prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
