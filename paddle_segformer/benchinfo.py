"""What a benchmark prints about the machine, and the measurements every benchmark script shares.

Absolute times differ between machines of the same kind (AVX2 only against AVX-512 with bf16), so
benchmarks print the CPU model and flags and compare rows measured in one run.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Dict, List

CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info() -> Dict[str, object]:
    """CPU model, core count and the SIMD flags that matter for the runtimes."""
    model, flags = platform.processor() or "?", []
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            for line in handle:
                if line.startswith("model name") and model in ("?", ""):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    break
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in CPU_FLAGS if f in flags]}


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


GEMM_CODE = """
import time, numpy as np
n = 2048
a = np.random.default_rng(0).random((n, n), dtype=np.float32); b = a.copy()
a @ b
best = min((lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(8))
print(2 * n ** 3 / best / 1e9)
"""


def gemm_gflops(threads: int) -> float:
    """Best float32 GEMM rate (2048^2, numpy / OpenBLAS) with ``threads`` threads, in GFLOP/s.

    Measured in a child process with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (this workplace sets
    them on some CPUs for old OpenBLAS builds; they hold a current numpy back), so the floor is the
    machine's real rate, not a throttled one.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", GEMM_CODE], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def timed(fn, reps: int) -> List[float]:
    """Wall-clock seconds of ``reps`` calls of ``fn``."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


# --- rows of a benchmark, each in its own process, driven line by line (interleaved repetitions) ---
PREFIX = "BENCH "


def row_env(kind: str, threads: int) -> Dict[str, str]:
    """A row's environment: "defaults" = a fresh shell's (Paddle picks its own threads), "prepared" =
    the entry points' (``threads`` OpenMP / numba threads; prepare_env adds the MKL setting itself)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE")}
    if kind == "prepared":
        env.update(OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    return env


class RowProcess:
    """A benchmark row in a child process that answers ``ask(command)`` with one JSON line.

    ``ready`` holds the child's first reply (``{"skip": reason}`` when it could not start).
    """

    def __init__(self, cmd: List[str], env: Dict[str, str], verbose: bool = False):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     stderr=None if verbose else subprocess.DEVNULL)
        self.error = None
        self.ready = self._reply()
        if self.ready is None:
            self.ready = {"skip": self.error}

    def _reply(self):
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX):])
        self.error = f"worker exited with status {self.proc.wait()}"
        return None

    def ask(self, command: str):
        if self.error:
            return None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def reply(payload: dict) -> None:
    """Child side: one protocol line on the real stdout."""
    sys.__stdout__.write(PREFIX + json.dumps(payload) + "\n")
    sys.__stdout__.flush()


def serve(setup, finish=None) -> int:
    """Child side: ``run = setup()`` (a failure is reported as a skip), then answer "run" with its time in
    ms and "finish" with ``finish()`` (a dict) plus the peak resident memory."""
    sys.stdout = sys.stderr  # libraries' prints must not mix with the protocol
    try:
        run = setup()
    except Exception as exc:  # a runtime missing here: the row is reported as not measured
        reply({"skip": f"{type(exc).__name__}: {exc}"[:300]})
        return 0
    reply({"ready": True})
    for command in sys.stdin:
        if command.strip() == "run":
            start = time.perf_counter()
            run()
            reply({"ms": (time.perf_counter() - start) * 1000})
        elif command.strip() == "finish":
            reply({**(finish() if finish else {}), "rss": peak_rss_mib()})
            return 0
    return 0


def interleave(rows: Dict[str, RowProcess], reps: int, settle: float) -> Dict[str, List[float]]:
    """``reps`` rounds of one timed run per row, a pause of ``settle`` s before each (the previous row's
    idle threads stop spinning: Intel OpenMP spins 200 ms after work)."""
    times: Dict[str, List[float]] = {name: [] for name in rows}
    for rep in range(reps):
        for name, row in rows.items():
            time.sleep(settle)
            answer = row.ask("run")
            if answer is not None:
                times[name].append(answer["ms"])
        print(f"  rep {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    return times
