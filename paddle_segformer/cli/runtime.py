"""Process set-up shared by the entry points, made once in :func:`run_cli`: threads (before paddle is imported),
logging, device, precision, test-time flags, and the one-line errors."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, List, Optional

from ..integration.config import ConfigError
from ..machine import prepare_env

logger = logging.getLogger("paddle_segformer")


def setup_logging(level: int = logging.INFO) -> None:
    """Plain timestamped logging for the package's loggers (PaddleSeg keeps its own)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def select_device(device: Optional[str] = None) -> str:
    """'gpu' when Paddle was built with CUDA and a GPU is visible, else 'cpu' (or what is asked).

    Like PaddleSeg's ``--device``, an accelerator this Paddle cannot use falls back to the CPU,
    here with a warning saying why.
    """
    import paddle

    has_gpu = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if device is None:
        device = "gpu" if has_gpu else "cpu"
    kind = device.split(":")[0]
    usable = {"cpu": True, "gpu": has_gpu, "xpu": paddle.device.is_compiled_with_xpu(),
              "npu": "npu" in paddle.device.get_all_custom_device_type(),
              "mlu": "mlu" in paddle.device.get_all_custom_device_type()}
    if kind not in usable:
        raise ValueError(f"--device must be cpu, gpu, xpu, npu or mlu (gpu:N for one GPU), got {device!r}")
    if not usable[kind]:
        why = ("this Paddle is the CPU build (pip install paddlepaddle-gpu)" if kind == "gpu" and
               not paddle.device.is_compiled_with_cuda() else f"this Paddle cannot use a {kind} here")
        logger.warning("--device %s asked, but %s: running on cpu (as PaddleSeg does)", device, why)
        device = "cpu"
    paddle.set_device(device)
    return device


def resolve_precision(precision: str = "fp32", fp16: bool = False, device: str = "cpu") -> str:
    """The precision to train in. fp16/bf16 need a GPU: on CPU say so once and use fp32.

    Paddle 3.3.1's ``auto_cast`` / ``GradScaler`` are no-ops on CPU and there are no fp16 or
    bf16 CPU matmul kernels, so pretending would only mislead.
    """
    precision = "fp16" if fp16 else precision
    if precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
    if precision != "fp32" and not device.startswith("gpu"):
        logger.warning("%s (automatic mixed precision) needs a GPU; Paddle has no %s kernels on CPU. "
                       "Running in fp32 on %s.", precision, precision, device)
        return "fp32"
    return precision


def add_inference_args(p: argparse.ArgumentParser, aug_flag: str) -> None:
    """PaddleSeg's test-time flags (:meth:`InferenceOptions.add_arguments`: ``--<aug_flag>``, scales, flips,
    sliding window), device, opts."""
    from ..inference.options import InferenceOptions

    InferenceOptions.add_arguments(p, aug_flag)
    p.add_argument("--device", help="cpu, gpu, gpu:N, xpu, npu, mlu (default: gpu when available; "
                                    "one this Paddle cannot use falls back to cpu with a warning)")
    p.add_argument("--opts", nargs="+", help="config overrides key=value")


def run_cli(main: Callable[[Optional[List[str]]], Optional[int]], argv: Optional[List[str]] = None,
            uses_paddle: bool = True) -> int:
    """Run an entry point, the one place where a command sets up its process: thread settings before paddle
    is imported (:func:`~paddle_segformer.machine.prepare_env`; ``uses_paddle=False`` for the data tools,
    which do not import it) and logging (:func:`setup_logging`). Known input problems and failed writes (a
    full disk, a read-only mount: earlier checkpoints stay intact) print one clear line and exit with status 2; a diverged training run (paddle_segformer.engine.divergence) prints its line and
    exits with status 4.
    """
    prepare_env(import_paddle=uses_paddle)
    setup_logging()
    from ..engine.divergence import TrainingDiverged
    from ..io.image import ImageReadError

    try:
        return main(argv) or 0
    except (ConfigError, ImageReadError, OSError, ValueError) as exc:  # CheckpointError, a full disk too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
