"""The benchmark scripts' harness: each row a child process driven line by line, so that rows keep their
own threads and environment and repetitions interleave; plus the reference models the rows share.
(Scripts import it as a sibling module: Python puts a script's own folder first on its path.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

from paddle_segformer.machine import peak_rss_mib

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

    def _reply(self) -> Optional[dict]:
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX):])
        self.error = f"worker exited with status {self.proc.wait()}"
        return None

    def ask(self, command: str) -> Optional[dict]:
        if self.error:
            return None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except OSError:  # the child died (out of memory, say): its row ends here, the others go on
            self.error = f"worker died (status {self.proc.wait()})"
            return None
        return self._reply()

    def close(self) -> None:
        """Let the child exit on its own (its atexit handlers remove its temporary cache), then kill."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def reply(payload: dict) -> None:
    """Child side: one protocol line on the real stdout."""
    sys.__stdout__.write(PREFIX + json.dumps(payload) + "\n")
    sys.__stdout__.flush()


def serve(setup: Callable[[], Callable[[], object]], finish: Optional[Callable[[], dict]] = None,
          rewarm: int = 0) -> int:
    """Child side: ``run = setup()`` (a failure is reported as a skip), then answer "run" with its time in
    ms (after ``rewarm`` untimed calls) and "finish" with ``finish()`` (a dict) plus the peak resident
    memory."""
    sys.stdout = sys.stderr  # libraries' prints must not mix with the protocol
    try:
        run = setup()
    except Exception as exc:  # a runtime missing here: the row is reported as not measured
        reply({"skip": f"{type(exc).__name__}: {exc}"[:300]})
        return 0
    reply({"ready": True})
    for command in sys.stdin:
        if command.strip() == "run":
            for _ in range(rewarm):
                run()
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


def paddleseg_model(variant: str, classes: int):
    """PaddleSeg 2.8's own SegFormer (its MixVisionTransformer_B*, the variant's decoder width)."""
    import paddle
    from paddleseg.models import SegFormer
    from paddleseg.models.backbones import mix_transformer

    from paddle_segformer.variants import get_variant

    paddle.seed(0)
    backbone = getattr(mix_transformer, f"MixVisionTransformer_{variant.upper()}")()
    return SegFormer(classes, backbone, get_variant(variant).decoder_dim)


def hf_model(variant: str, classes: int, threads: int):
    """transformers' SegformerForSemanticSegmentation with random weights, torch on ``threads`` threads."""
    import torch
    import transformers

    from paddle_segformer.weights.convert import hf_config

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = hf_config(variant, 3, classes, None)
    config.pop("model_type")
    return transformers.SegformerForSemanticSegmentation(transformers.SegformerConfig(**config))
