"""Images in flight side by side for a folder prediction: OpenVINO's throughput streams.

One image at a time, the runtime splits every layer across the cores, and the cores wait for each other at
the end of each one; the folder loop's decoding and encoding, which run on the same cores, stretch those
waits. With ``LANES`` images in flight, each on its own OpenVINO stream (the cores divided between the
streams) and its own label-kernel threads, nothing waits for the slowest core and the side work takes
cycles from one stream only: B0 at 512^2 on two cores, model and label kernel, 14.2 against 12.1 images/s
one at a time, and the folder at 1.00 of the one-at-a-time model rate, was 0.91 (``scripts/bench_folder.py``). A single image (predict.py on
one file, val.py, scenes in tiles) keeps the latency setting: all cores on one pass.
"""
from __future__ import annotations

import copy
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Optional

from .backends import OpenVinoBackend
from .memory import MemoryBudget, MemoryGuard
from .predictor import Predictor
from .upsample import concurrent_calls_safe, set_threads

logger = logging.getLogger(__name__)

LANES = 2  # images in flight: enough to keep two cores busy; each more holds another forward pass in memory


class Lanes:
    """``submit(fn, *args)`` runs on one of ``count`` threads; ``predictor`` is the folder's predictor on the
    streams backend, with the memory budget shared by the images in flight. A context manager."""

    def __init__(self, predictor: Predictor, count: int):
        backend = predictor.backend.streams(count)
        self.count = count
        self.predictor = copy.copy(predictor)  # shares model, transforms and lookup table; not the runtime
        self.predictor.backend = backend
        if predictor.guard is not None:
            budget = predictor.guard.budget
            shared = MemoryBudget(budget.limit // count, f"{budget.origin}, shared by {count} images in flight")
            self.predictor.guard = MemoryGuard(predictor.guard.shape, shared, predictor.guard.backend)
        self.pool = ThreadPoolExecutor(count, thread_name_prefix="lane", initializer=set_threads,
                                       initargs=(backend.threads,))
        logger.info("%d images in flight, each on an OpenVINO stream of %d thread(s)", count, backend.threads)

    @classmethod
    def for_folder(cls, predictor: Predictor, files: int, count: int = LANES) -> Optional["Lanes"]:
        """Lanes for a folder of ``files`` images, or None where one at a time is the way: fewer than two
        images or cores, a runtime other than OpenVINO, test-time augmentation or a sliding window, or a
        label-kernel threading layer that cannot take calls from two threads at once (numba's workqueue)."""
        backend = predictor.backend
        if count < 2 or files < 2 or not isinstance(backend, OpenVinoBackend) or not predictor.plain:
            return None
        if int(backend.config["INFERENCE_NUM_THREADS"]) < count:
            return None
        if not concurrent_calls_safe():
            logger.info("one image at a time: numba's workqueue threading layer takes one caller at a time "
                        "(install tbb for images in flight side by side)")
            return None
        return cls(predictor, count)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.pool.submit(fn, *args)

    def __enter__(self) -> "Lanes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
