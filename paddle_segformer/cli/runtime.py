"""Process set-up shared by the entry points: threads, logging, device, config, precision."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import Any, Callable, List, Optional

from ..config_builder import ConfigError

logger = logging.getLogger("paddle_segformer")


def _is_amd_cpu() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            return "AuthenticAMD" in handle.read(4096)
    except OSError:
        return False


def prepare_env(import_paddle: bool = True) -> None:
    """Thread defaults for CPU runs; call before paddle is imported. Existing settings win. Then
    imports paddle without its OMP_NUM_THREADS lecture (``import_paddle=False``: leaves it to the caller).

    Paddle's dynamic graph runs one thread unless OMP_NUM_THREADS says otherwise, and its MKL
    takes a slow path on AMD CPUs unless MKL_DEBUG_CPU_TYPE=5 (measured 3-6x on Paddle 3.3.1).
    Under ``paddle.distributed.launch`` the cores are shared between the local processes.
    """
    warnings.filterwarnings("ignore", message="No ccache found")  # paddle's C++-extension notice
    # paddle's BatchNorm on every training step: says what it does, asks nothing of the user
    warnings.filterwarnings("ignore", message="When training, we now always track global mean")
    local = int(os.environ.get("PADDLE_LOCAL_SIZE", os.environ.get("PADDLE_TRAINERS_NUM", "1")) or 1)
    threads = max(1, (os.cpu_count() or 1) // max(local, 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if _is_amd_cpu():
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    if import_paddle:
        _import_paddle_quietly()


# Paddle prints this to stderr on import whenever OMP_NUM_THREADS > 1, which is our default on purpose
# (its single-thread default is 2x slower on 2 cores): not news to a user of this package.
OMP_LECTURE = ("WARNING: OMP_NUM_THREADS set to", "PLEASE USE OMP_NUM_THREADS WISELY.")


class _WithoutLecture:
    """A stderr that passes everything on but the lines of :data:`OMP_LECTURE` (``print`` writes a line's
    text and its newline in two calls: the newline of a dropped line is dropped too)."""

    def __init__(self, stream: Any):
        self._stream, self._dropped = stream, False

    def write(self, text: str) -> int:
        dropped, self._dropped = self._dropped, text.startswith(OMP_LECTURE)
        if not self._dropped and not (dropped and text == "\n"):
            self._stream.write(text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _import_paddle_quietly() -> None:
    """Import paddle now that the environment is set, without its lecture, and undo the handler its
    import adds to the root logger (paddle.distributed's ``get_logger``), so that logging is configured
    by the entry point (:func:`setup_logging`) as if paddle had not been imported yet."""
    if "paddle" in sys.modules:
        return
    import contextlib

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with contextlib.redirect_stderr(_WithoutLecture(sys.stderr)):
        import paddle  # noqa: F401
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


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


def run_cli(main: Callable[[Optional[List[str]]], Optional[int]], argv: Optional[List[str]] = None) -> int:
    """Run an entry point; known input problems print one clear line and exit with status 2.

    A diverged training run (paddle_segformer.divergence) prints its line and exits with status 4.
    """
    from ..divergence import TrainingDiverged
    from ..io.image import ImageReadError

    try:
        return main(argv) or 0
    except (ConfigError, ImageReadError, FileNotFoundError, ValueError) as exc:  # CheckpointError too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
