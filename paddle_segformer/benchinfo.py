"""What a benchmark prints about the machine, and the measurements every benchmark script shares.

Absolute times differ between machines of the same kind (AVX2 only against AVX-512 with bf16), so
benchmarks print the CPU model and flags and compare rows measured in one run.
"""
from __future__ import annotations

import os
import platform
import resource
from typing import Dict

CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


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
