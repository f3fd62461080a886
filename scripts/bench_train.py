"""Time and memory of one SegFormer training step on this machine: ours against PaddleSeg's built-in
model and Hugging Face transformers on PyTorch.

    python scripts/bench_train.py                       # B0, batch 2 of 512^2, 150 classes
    python scripts/bench_train.py --variant b3 --batch 1 --size 512 --reps 3

A step is forward + cross-entropy (ignore index 255) + backward + AdamW update, on the same random batch.
Each row runs in its own process, repetitions interleaved after three untimed warm-up steps (the
first steps of a Paddle process are up to 2x slower while its allocator settles; training runs thousands),
and each timed step comes right after an untimed one of the same row: on a machine that reclaims idle
processes' pages (this project's VMs page out file-backed memory after about a second idle, DAMON
`pageout`), a row resumed after the others' steps re-reads its libraries' code from disk, which no
training run pays (Paddle's step measured 3.8-4.5 s after 10 s idle, 2.2-2.6 s back to back). The Paddle rows use
PaddleSeg's CrossEntropyLoss: the PaddleSeg row with only this package's Paddle 3.3 fixes (without them
it does not run on Paddle 3.3.1), ours as train.py runs it (registered: the compiled CPU kernel); the
PyTorch row computes transformers' own loss.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Callable

import numpy as np
from bench_harness import RowProcess, hf_model, interleave, paddleseg_model, row_env, serve

from paddle_segformer.machine import describe_machine

ROWS = {
    "paddleseg": ("PaddleSeg 2.8 built-in SegFormer, Paddle defaults", "defaults"),
    "ours": ("paddle_segformer, train.py's environment", "prepared"),
    "hf-torch": ("Hugging Face transformers, PyTorch eager", "prepared"),
}
IGNORE = 255


def _batch(args: argparse.Namespace):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, args.size, args.size)).astype(np.float32)
    y = rng.integers(0, args.classes, (args.batch, args.size, args.size)).astype(np.int64)
    y[:, : args.size // 8] = IGNORE
    return x, y


def _paddle_step(model, args: argparse.Namespace) -> Callable[[], None]:
    import paddle
    from paddleseg.models.losses import CrossEntropyLoss

    loss_fn = CrossEntropyLoss(ignore_index=IGNORE)
    opt = paddle.optimizer.AdamW(6e-5, parameters=model.parameters(), weight_decay=0.01)
    x, y = (paddle.to_tensor(a) for a in _batch(args))
    model.train()

    def step():
        loss = loss_fn(model(x)[0], y)
        loss.backward()
        opt.step()
        opt.clear_grad()

    return step


def paddleseg_row(args: argparse.Namespace) -> Callable[[], None]:
    from paddle_segformer.integration import compat

    compat.apply()  # only the Paddle 3.3 fixes PaddleSeg's loss needs to run: PaddleSeg's own loss
    return _paddle_step(paddleseg_model(args.variant, args.classes), args)


def ours_row(args: argparse.Namespace) -> Callable[[], None]:
    from paddle_segformer.machine import prepare_env

    prepare_env()  # before paddle is imported, as train.py does
    import paddle

    import paddle_segformer
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle_segformer.register()  # as train.py: PaddleSeg's CrossEntropyLoss through our CPU kernel
    paddle.seed(0)
    return _paddle_step(SegFormer(args.classes, mit(args.variant)), args)


def hf_torch_row(args: argparse.Namespace) -> Callable[[], None]:
    import torch

    model = hf_model(args.variant, args.classes, args.threads).train()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-5, weight_decay=0.01)
    x, y = (torch.from_numpy(a) for a in _batch(args))

    def step():
        model(pixel_values=x, labels=y).loss.backward()
        opt.step()
        opt.zero_grad()

    return step


BUILDERS = {"paddleseg": paddleseg_row, "ours": ours_row, "hf-torch": hf_torch_row}


def worker(args: argparse.Namespace) -> int:
    def setup():
        step = BUILDERS[args.worker](args)
        for _ in range(args.warmup):  # untimed: allocator caches and first-call compilation settle
            step()
        return step

    return serve(setup, rewarm=args.rewarm)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="b0")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--classes", type=int, default=150)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per row before the timed ones")
    p.add_argument("--rewarm", type=int, default=1,
                   help="untimed steps right before each timed one (a row resumes warm after the others ran)")
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2))
    p.add_argument("--settle", type=float, default=0.5)
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    started = {}
    for row in args.rows:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", row] + [
            f"--{k}={getattr(args, k)}" for k in ("variant", "size", "batch", "classes", "threads", "warmup", "rewarm")]
        process = RowProcess(cmd, row_env(ROWS[row][1], args.threads), args.verbose)
        if "skip" in process.ready:
            print(f"{row}: not measured ({process.ready['skip']})", file=sys.stderr)
            continue
        started[row] = process
    times = interleave(started, args.reps, args.settle)
    rss = {row: (process.ask("finish") or {}).get("rss", 0) for row, process in started.items()}
    for process in started.values():
        process.close()
    print(describe_machine(args.threads))
    print(f"\n### Training step, MiT-{args.variant.upper()}, batch {args.batch} of {args.size}^2, {args.classes} "
          f"classes, forward + CE + backward + AdamW\n")
    print("| row | median s | min s | img/s | peak RSS MiB | time / PaddleSeg | time / PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    med = {row: statistics.median(t) / 1000 for row, t in times.items() if t}
    for row in med:
        vs = [f"{med[row] / med[ref]:.2f}" if ref in med else "-" for ref in ("paddleseg", "hf-torch")]
        print(f"| {row}: {ROWS[row][0]} | {med[row]:.2f} | {min(times[row]) / 1000:.2f} | "
              f"{args.batch / med[row]:.2f} | {rss[row]:.0f} | {vs[0]} | {vs[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
