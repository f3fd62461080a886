"""Per-image inference time of SegFormer on this machine: our runtimes against PaddleSeg's built-in
model, third-party runtimes on a plain export, Hugging Face PyTorch, and the FLOP floor.

    python scripts/bench_inference.py                         # B0 and B3 at 512^2 and 1024^2
    python scripts/bench_inference.py --variants b0 --sizes 512 --reps 7
    python scripts/bench_inference.py --isa avx2    # an AVX2-only CPU, emulated on a newer one

Every row is its own worker process (its own threads and environment), started once per variant and
size; the repetitions are interleaved (rep 1 of every row, then rep 2, ...), so a slow phase of the
machine hits all rows alike, with a pause before each timed run so that the previous row's idle
threads (Intel OpenMP spins 200 ms after work, ONNX Runtime by default too) do not steal its cores. Each row maps the same normalised (1, 3, S, S) float32 input to the
(S, S) label map (argmax of the logits upsampled to full resolution), random weights, 150 classes.
Ratios within one table are what to compare: absolute times differ between machines of one kind.

The floor is the network's FLOPs (paper count: convolutions, linear layers and the attention matmuls;
paddle_segformer.models.flops) divided by this machine's best measured float32 GEMM rate (numpy, 2048^2).
Labels of every row built from our weights are compared with those of our dynamic model (agreement).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from typing import Dict, List

import numpy as np
from bench_harness import RowProcess, gemm_gflops, interleave, row_env

from paddle_segformer.io.atomic import atomic_path
from paddle_segformer.machine import describe_machine
from paddle_segformer.models.flops import segformer_macs

# name -> (description, environment: "defaults" = as a fresh shell, "prepared" = prepare_env())
ROWS: Dict[str, tuple] = {
    "paddleseg": ("PaddleSeg 2.8 built-in SegFormer, dynamic graph, Paddle defaults", "defaults"),
    "ours-dynamic": ("paddle_segformer model, dynamic graph (predict/val before this change)", "prepared"),
    "paddle": ("ours, folded graph on Paddle's dynamic graph (--backend paddle)", "prepared"),
    "inference": ("ours, Paddle Inference + oneDNN (--backend inference)", "prepared"),
    "onnxruntime": ("ours, ONNX Runtime (--backend onnxruntime)", "prepared"),
    "openvino": ("ours, OpenVINO f32 (--backend openvino)", "prepared"),
    "openvino-bf16": ("ours, OpenVINO bf16 (--precision bf16)", "prepared"),
    "openvino-int8": ("ours, OpenVINO INT8 (--precision int8; NNCF, 32 random calibration inputs)", "prepared"),
    "openvino-e2e": ("ours, OpenVINO f32 end to end: JPG read + normalised, labels, label PNG written", "prepared"),
    "openvino-int8-e2e": ("ours, OpenVINO INT8 end to end (32 calibration JPGs), as openvino-e2e", "prepared"),
    "ort-plain": ("third party: ONNX Runtime on the plain paddle2onnx export, argmax in graph", "prepared"),
    "ov-plain": ("third party: OpenVINO f32 on the plain paddle2onnx export, argmax in graph", "prepared"),
    "hf-torch": ("third party: Hugging Face transformers, PyTorch eager", "prepared"),
}
THIRD_PARTY_FP32 = ("ort-plain", "ov-plain", "hf-torch")
DEFAULT_ROW = "openvino"  # backends.AUTO_ORDER[0] (not imported: this parent process stays without paddle)
REFERENCE_ROW = "ours-dynamic"
END_TO_END = ("openvino-e2e", "openvino-int8-e2e")  # an image file in, not the shared input: own reference
FLOAT_OF = {"openvino-bf16": "openvino", "openvino-int8": "openvino", "openvino-int8-e2e": "openvino-e2e"}


def measure(args: argparse.Namespace, variant: str, size: int, rows: List[str], out_dir: str) -> Dict[str, dict]:
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_worker.py")
    started: Dict[str, RowProcess] = {}
    for row in rows:
        print(f"  starting {row} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, worker, row, variant, str(size), str(args.classes), str(args.threads), out_dir,
               str(args.rewarm)]
        process = RowProcess(cmd, row_env(ROWS[row][1], args.threads), args.verbose)
        if "skip" in process.ready:
            print(f"  {row}: not measured ({process.ready['skip']})", file=sys.stderr)
            process.close()
            continue
        started[row] = process
    times = interleave(started, args.reps, args.settle)
    results = {}
    for row, process in started.items():
        final = process.ask("finish") or {}
        process.close()
        if times[row]:
            results[row] = {"ms": times[row], **final}
    return results


def _equal(results: Dict[str, dict], row: str, ref_row: str) -> str:
    """Percentage of ``row``'s labels equal to ``ref_row``'s."""
    ref = results.get(ref_row, {}).get("labels")
    if not ref:
        return f"- ({ref_row} not run)"
    return f"{np.mean(np.load(results[row]['labels']) == np.load(ref)) * 100:.2f} %"


def agreement(results: Dict[str, dict]) -> Dict[str, str]:
    """Labels equal to our dynamic model's (same weights and input; end-to-end rows: n/a, an image file in)."""
    out = {}
    for row, r in results.items():
        if row in END_TO_END:
            out[row] = "n/a (image file in)"
        elif results.get(REFERENCE_ROW, {}).get("labels") and r.get("labels") and r.get("same_weights"):
            out[row] = _equal(results, row, REFERENCE_ROW)
        else:
            out[row] = "n/a (other weights)" if r.get("labels") else "-"
    return out


def float_agreement(results: Dict[str, dict]) -> Dict[str, str]:
    """bf16 / INT8 rows: labels equal to their float32 row's (same runtime, same input)."""
    return {row: _equal(results, row, FLOAT_OF[row]) if row in FLOAT_OF and r.get("labels")
            else "-" for row, r in results.items()}


def table(variant: str, size: int, classes: int, results: Dict[str, dict], floor_ms: float) -> List[str]:
    base = statistics.median(results["paddleseg"]["ms"]) if "paddleseg" in results else None
    agree, agree_fp32 = agreement(results), float_agreement(results)
    lines = [f"\n### MiT-{variant.upper()}, 1 x 3 x {size} x {size}, {classes} classes (floor {floor_ms:.0f} ms)\n",
             ("| row | median ms | min ms | img/s | peak RSS MiB | speed-up vs PaddleSeg | x floor "
              "| labels = ours dynamic | labels = float32 |"),
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row, r in results.items():
        med, low = statistics.median(r["ms"]), min(r["ms"])
        speed = f"{base / med:.1f}x" if base else "-"
        name = f"**{row}** (default)" if row == DEFAULT_ROW else row
        lines.append(f"| {name}: {ROWS[row][0]} | {med:.0f} | {low:.0f} | {1000 / med:.2f} | {r.get('rss', 0):.0f} "
                     f"| {speed} | {med / floor_ms:.2f} | {agree[row]} | {agree_fp32[row]} |")
    return lines


def verdict(results: Dict[str, dict], floor_ms: float) -> List[str]:
    if DEFAULT_ROW not in results:
        return ["targets: default row not measured"]
    ours = statistics.median(results[DEFAULT_ROW]["ms"])
    third = {r: statistics.median(results[r]["ms"]) for r in THIRD_PARTY_FP32 if r in results}
    lines = []
    if third:
        best = min(third, key=third.get)
        lines.append(f"target: default {ours:.0f} ms <= best third-party fp32 ({best}) {third[best]:.0f} ms: "
                     f"{'met' if ours <= third[best] else 'NOT met'}")
    lines.append(f"target: default within 1.5x of the floor: {ours / floor_ms:.2f}x "
                 f"{'met' if ours <= 1.5 * floor_ms else 'NOT met'}")
    if all(row in results for row in END_TO_END):
        f32, int8 = (statistics.median(results[row]["ms"]) for row in END_TO_END)
        lines.append(f"target: INT8 end to end >= 1.5x faster than f32 end to end: {f32 / int8:.2f}x "
                     f"{'met' if f32 >= 1.5 * int8 else 'NOT met'}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["b0", "b3"])
    p.add_argument("--sizes", nargs="+", type=int, default=[512, 1024])
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds of quiet before each timed run (Intel OpenMP threads spin 200 ms after work)")
    p.add_argument("--rewarm", type=int, default=1,
                   help="untimed runs of a row right before each of its timed runs, after the pause: the timed run "
                        "is then one in a stream of images, as in a folder (0: straight after the pause, when this "
                        "project's Xeon VM ran B0 25-60 %% slower, its cores waking from idle)")
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2))
    p.add_argument("--isa", type=str.upper, help="cap oneDNN's instruction set in every row (ONEDNN_MAX_CPU_ISA and "
                   "DNNL_MAX_CPU_ISA), e.g. avx2: an AVX2-only CPU emulated. OpenVINO honours it only in part "
                   "(its MVN and Interpolate kernels stay on AVX-512); MLAS and numpy ignore it")
    p.add_argument("--json", help="also write all measurements here")
    p.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    args = p.parse_args()
    if args.isa:  # inherited by every row's process (row_env copies os.environ)
        os.environ["ONEDNN_MAX_CPU_ISA"] = os.environ["DNNL_MAX_CPU_ISA"] = args.isa
    rate = gemm_gflops(args.threads)
    print(describe_machine(args.threads))
    if args.isa:
        print(f"oneDNN instruction set capped at {args.isa} in every row (ONEDNN_MAX_CPU_ISA)")
    print(f"float32 GEMM (numpy, 2048^2, {args.threads} threads): {rate:.0f} GFLOP/s; "
          f"{args.reps} interleaved repetitions after warm-up, each after {args.rewarm} untimed run(s) of its row")
    everything = {"machine": describe_machine(args.threads), "gemm_gflops": rate, "runs": []}
    with tempfile.TemporaryDirectory() as out_dir:
        for variant in args.variants:
            for size in args.sizes:
                print(f"measuring MiT-{variant.upper()} at {size}^2", file=sys.stderr, flush=True)
                results = measure(args, variant, size, args.rows, out_dir)
                floor_ms = segformer_macs(variant, size, size, args.classes).gflops / rate * 1000
                print("\n".join(table(variant, size, args.classes, results, floor_ms) + [""] + verdict(results, floor_ms)),
                      flush=True)
                everything["runs"].append({"variant": variant, "size": size, "floor_ms": floor_ms,
                                           "rows": {k: {"ms": v["ms"], "rss": v.get("rss")}
                                                    for k, v in results.items()}})
    if args.json:
        with atomic_path(args.json) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            json.dump(everything, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
