"""Where OpenVINO's time goes: per-layer counters of our inference graph, summed by layer type and kernel.

    python scripts/profile_openvino.py                          # B0, 512^2, f32 and int8
    python scripts/profile_openvino.py --variant b3 --precisions int8 --reps 10
    ONEDNN_MAX_CPU_ISA=AVX2 python scripts/profile_openvino.py  # as on an AVX2-only CPU

Builds a random-weight model as scripts/bench_inference.py does (the INT8 one calibrated on the same 32
random inputs), compiles it as the OpenVINO backend does plus PERF_COUNT, and prints, per precision, the
milliseconds per inference of each (layer type, kernel) pair, largest first, and of the label kernel that
follows the model (stride-4 logits -> full-resolution labels). A diagnostic, not a benchmark: counters add
their own overhead, and ratios between runs mean more than the absolute times.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import numpy as np
from bench_worker import _calibration, _ours

from paddle_segformer.machine import describe_machine


def counters(backend, batch: np.ndarray, reps: int) -> Dict[Tuple[str, str], float]:
    """ms per inference of each (layer type, kernel) over ``reps`` runs of a model compiled with counters for
    ``batch``'s shape, as the backend compiles it once a shape repeats (dynamic shapes run other kernels:
    Transposes on the reference path, 100x slower)."""
    model = backend.core.read_model(backend.path)
    model.reshape(list(batch.shape))
    compiled = backend.core.compile_model(model, "CPU", dict(backend.config, PERF_COUNT=True))
    request = compiled.create_infer_request()
    request.infer([batch])  # warm-up
    totals: Dict[Tuple[str, str], float] = collections.Counter()
    for _ in range(reps):
        request.infer([batch])
        for info in request.profiling_info:
            if info.status.name == "EXECUTED":
                totals[(info.node_type, info.exec_type)] += info.real_time.total_seconds() * 1000 / reps
    return totals


def label_ms(backend, batch: np.ndarray, reps: int) -> float:
    """ms of the label kernel (upsample + argmax of the stride-4 logits) per image."""
    from paddle_segformer.inference.upsample import upsample_labels

    logits = backend.label_logits(batch)[0]
    upsample_labels(logits, batch.shape[2:], backend.align_corners)  # warm-up: numba's compiled code loaded
    start = time.perf_counter()
    for _ in range(reps):
        upsample_labels(logits, batch.shape[2:], backend.align_corners)
    return (time.perf_counter() - start) * 1000 / reps


def report(precision: str, totals: Dict[Tuple[str, str], float], labels: float, top: int) -> List[str]:
    lines = [f"\n### {precision}: {sum(totals.values()):.1f} ms in the model, {labels:.1f} ms label kernel\n",
             "| layer type | kernel | ms | share |", "| --- | --- | --- | --- |"]
    whole = sum(totals.values()) or 1.0
    for (kind, kernel), ms in sorted(totals.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"| {kind} | {kernel} | {ms:.2f} | {ms / whole * 100:.1f} % |")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="b0")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "bf16", "int8"])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=15, help="rows per table")
    args = p.parse_args()
    from paddle_segformer.inference.backends import create_backend
    from paddle_segformer.inference.options import RuntimeOptions

    print(describe_machine(args.threads))
    batch = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as cache:
        for precision in args.precisions:
            print(f"building {precision} ...", file=sys.stderr, flush=True)
            calibration = _calibration(args.size) if precision == "int8" else None
            backend = create_backend(_ours(args.variant, args.classes),
                                     RuntimeOptions("openvino", precision, args.threads, cache), calibration=calibration)
            totals = counters(backend, batch, args.reps)
            print("\n".join(report(f"MiT-{args.variant.upper()} {args.size}^2 {precision}", totals,
                                   label_ms(backend, batch, args.reps), args.top)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
