"""Read ahead on a thread: decoding the next items overlaps with computing on the current one."""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


def read_ahead(load: Callable[[int], T], count: int, depth: int = 4) -> Iterator[Future]:
    """Futures of ``load(0) .. load(count - 1)`` in order, at most ``depth`` running ahead on one
    thread. A failed load raises from its future's ``result()``, not from the iteration, so the
    caller decides whether one bad item stops the rest. Close the generator (``contextlib.closing``)
    to stop early."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="read")
    try:
        pending = deque(pool.submit(load, i) for i in range(min(depth, count)))
        for i in range(count):
            future = pending.popleft()
            if i + depth < count:
                pending.append(pool.submit(load, i + depth))
            yield future
    finally:  # also when the caller stops early (close(), an error, Ctrl-C): queued reads are dropped
        pool.shutdown(wait=True, cancel_futures=True)
