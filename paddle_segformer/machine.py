"""The machine: CPU facts, thread settings made before paddle is imported, and the measurements every
benchmark script shares.

Absolute times differ between machines of the same kind (AVX2 only against AVX-512 with bf16), so
benchmarks print the CPU model and flags and compare rows measured in one run.
"""
from __future__ import annotations

import logging
import os
import platform
import resource
import sys
import warnings
from typing import Any, Dict

CPU_FLAGS = ("avx2", "fma", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


def cpu_info() -> Dict[str, object]:
    """CPU model, core count and the SIMD flags that matter for the runtimes."""
    model, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            for line in handle:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    break
    except OSError:
        pass
    return {"model": model or platform.processor() or "?", "cores": os.cpu_count(),
            "flags": [f for f in CPU_FLAGS if f in flags]}


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
    by the entry point (``paddle_segformer.cli.runtime.setup_logging``) as if paddle had not been imported yet."""
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


def describe_machine(threads: int) -> str:
    info = cpu_info()
    return (f"CPU: {info['model']}, {info['cores']} cores, flags: {' '.join(info['flags']) or 'none of interest'}; "
            f"threads: {threads}; Python {platform.python_version()}")


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space made by exec; ru_maxrss
    would also count the parent's peak before the fork (Linux keeps it across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current resident size (Linux: ``echo 5 > /proc/self/clear_refs``),
    so that a later :func:`peak_rss_mib` measures one step; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def rss_mib() -> float:
    """This process's resident memory now (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
