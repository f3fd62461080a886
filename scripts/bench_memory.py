"""Peak memory and time of one forward pass against the input side, and the estimate that guards it.

    python scripts/bench_memory.py                                   # B0 and B3, 512 / 1024 / 2048
    python scripts/bench_memory.py --variants b0 --sizes 256 384 --classes 5 --max_memory 2G

Each measurement runs in its own process: the model (random weights) and its runtime are built and
warmed up at 64^2, the peak resident memory is reset (/proc/self/clear_refs), then one pass runs on a
(1, 3, S, S) input: the runtime's forward to stride-4 logits and the labels at full resolution, as
predict.py does for an image. "peak" is the rise of VmHWM over the resident size before the pass;
"estimate" is paddle_segformer.inference.memory's, for the runtime that ran. Rows: efficient
attention as built (sequence reduction 8/4/2/1) and full attention (sr 1 in every stage, the same
weights otherwise). A size whose estimate is over the budget (--max_memory, default half the memory
available) is not run: the first such size is printed with its estimate, as predict.py would refuse
to run it whole (and tile it instead).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from paddle_segformer.machine import prepare_env

ATTENTION = ("efficient", "full")


def build_model(variant: str, attention: str, classes: int):
    """Random-weight SegFormer; ``full``: every stage's sr_ratio 1, the other weights the efficient model's."""
    import paddle

    from paddle_segformer.models.backbone import MixVisionTransformer
    from paddle_segformer.models.segformer import SegFormer
    from paddle_segformer.variants import get_variant

    spec = get_variant(variant)
    paddle.seed(0)
    model = SegFormer(classes, MixVisionTransformer.from_spec(spec))
    if attention == "full":
        weights = model.state_dict()
        model = SegFormer(classes, MixVisionTransformer.from_spec(dataclasses.replace(spec, sr_ratios=(1, 1, 1, 1))))
        model.set_state_dict({k: v for k, v in weights.items() if k in model.state_dict()})
    model.eval()
    return model


def worker(variant: str, attention: str, side: int, classes: int, backend: str, cache_dir: str) -> dict:
    """One pass at ``side`` in this process (see the module docstring)."""
    from paddle_segformer.inference.backends import create_backend
    from paddle_segformer.inference.memory import ModelShape, estimate_forward_bytes
    from paddle_segformer.inference.options import RuntimeOptions
    from paddle_segformer.inference.upsample import upsample_labels
    from paddle_segformer.machine import peak_rss_mib, reset_peak_rss, rss_mib

    model = build_model(variant, attention, classes)
    runtime = create_backend(model, RuntimeOptions(backend=backend, cache_dir=cache_dir))

    def one_pass(x: np.ndarray) -> np.ndarray:
        return upsample_labels(runtime.label_logits(x)[0], x.shape[2:], runtime.align_corners)  # as predict

    one_pass(np.zeros((1, 3, 64, 64), np.float32))  # plugins loaded, kernels compiled
    x = np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32)
    if not reset_peak_rss():
        raise RuntimeError("/proc/self/clear_refs is not writable: the peak of one pass cannot be isolated")
    before = rss_mib()
    start = time.perf_counter()
    one_pass(x)
    seconds = time.perf_counter() - start
    estimate = estimate_forward_bytes(side, side, ModelShape.of_model(model), runtime.name)
    return {"variant": variant, "attention": attention, "side": side, "backend": runtime.name,
            "peak_mib": peak_rss_mib() - before, "estimate_mib": estimate / 2 ** 20, "seconds": seconds}


def measure(args, variant: str, attention: str, side: int, cache_dir: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant, attention, str(side), "--classes", str(args.classes),
           "--backend", args.backend, "--cache_dir", cache_dir]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        return {"variant": variant, "attention": attention, "side": side, "error": run.stderr.strip()[-300:]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def planned(args, variant: str, attention: str, guard_of) -> tuple:
    """(sides to run, first side refused or None): the asked sides whose estimate fits, then the first
    side (an asked one, else doubling past the last) whose estimate does not."""
    guard = guard_of(variant, attention)
    run, refused = [], None
    for side in args.sizes:
        if guard.plan(side, side).fits:
            run.append(side)
        elif refused is None:
            refused = side
    side = max(args.sizes)
    while refused is None and side < 1 << 16:
        side *= 2
        refused = side if not guard.plan(side, side).fits else None
    return run, refused


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["b0", "b3"])
    p.add_argument("--sizes", nargs="+", type=int, default=[512, 1024, 2048])
    p.add_argument("--attention", nargs="+", choices=ATTENTION, default=list(ATTENTION))
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--backend", default="auto", help="runtime (default: predict.py's, the fastest installed)")
    p.add_argument("--max_memory", help="budget, e.g. 8G (default: half of the memory available now)")
    p.add_argument("--full_max_side", type=int, default=1024,
                   help="largest side run with full attention (its compute grows with the fourth power of the "
                        "side: B0 at 1024^2 took about a minute here, 2048^2 would take hours)")
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2))
    p.add_argument("--cache_dir", help=argparse.SUPPRESS)
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    prepare_env()
    if args.worker:
        variant, attention, side = args.worker
        print(json.dumps(worker(variant, attention, int(side), args.classes, args.backend, args.cache_dir)))
        return 0
    table(args)
    return 0


def row(args, variant: str, attention: str, side: int, cache_dir: str) -> str:
    """One measured table row (or why it was not measured)."""
    name = f"| {variant.upper()} | {attention} | {side} |"
    if attention == "full" and side > args.full_max_side:
        return f"{name} left out (time; --full_max_side {args.full_max_side}) | | | |"
    print(f"measuring {variant} {attention} {side}^2", file=sys.stderr, flush=True)
    r = measure(args, variant, attention, side, cache_dir)
    if "error" in r:
        return f"{name} failed: {r['error']} | | | |"
    return (f"{name} {r['peak_mib']:.0f} | {r['estimate_mib']:.0f} | {r['estimate_mib'] / max(r['peak_mib'], 1):.2f} "
            f"| {r['seconds']:.2f} |")


def table(args) -> None:
    """The machine, the budget, then one row per variant, attention and side, printed as measured."""
    from paddle_segformer.inference.choice import choose_runtime
    from paddle_segformer.inference.memory import MemoryBudget, MemoryGuard, ModelShape, format_size
    from paddle_segformer.inference.options import RuntimeOptions
    from paddle_segformer.machine import describe_machine
    from paddle_segformer.variants import get_variant

    budget = MemoryBudget.create(args.max_memory)
    runtime = choose_runtime(RuntimeOptions(args.backend)).candidates[0]

    def guard_of(variant: str, attention: str) -> MemoryGuard:
        spec = get_variant(variant)
        if attention == "full":
            spec = dataclasses.replace(spec, sr_ratios=(1, 1, 1, 1))
        return MemoryGuard(ModelShape.of_variant(spec, args.classes), budget, runtime)

    print(describe_machine(args.threads))
    print(f"runtime: {runtime}; {args.classes} classes; budget {budget}; one pass = forward + labels, "
          f"each in a fresh process")
    print("| variant | attention | side | peak MiB | estimate MiB | estimate / peak | time s |\n"
          "| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    with tempfile.TemporaryDirectory() as cache_dir:
        for variant in args.variants:
            for attention in args.attention:
                sides, refused = planned(args, variant, attention, guard_of)
                for side in sides:
                    print(row(args, variant, attention, side, cache_dir), flush=True)
                if refused:
                    estimate = guard_of(variant, attention).plan(refused, refused).estimate
                    print(f"| {variant.upper()} | {attention} | {refused} | refused, not run | "
                          f"{estimate / 2 ** 20:.0f} ({format_size(estimate)}) | - | - |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
