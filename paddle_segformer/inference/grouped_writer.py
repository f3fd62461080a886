"""The writer thread of a folder prediction: each image's outputs encoded and staged as they come, and made
durable in groups (:class:`~paddle_segformer.io.commit_group.CommitGroup`), so that the disk flushes of three
small files per image do not take the model's cores (see that module for the measurements)."""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, List, Optional, Tuple

from ..io.commit_group import CommitGroup

logger = logging.getLogger(__name__)

GROUP_IMAGES = 6  # images committed together at most (below folder.MAX_PENDING_WRITES: the loop never waits)
GROUP_SECONDS = 1.0  # the longest a finished image waits for its group's commit
_FLUSH, _STOP = object(), object()


class GroupedWriter:
    """One thread running each submitted ``write(group)`` (which stages files into ``group``, a
    :class:`CommitGroup`, and returns a result) in order, committing the staged files of up to ``images``
    writes together, or those that waited ``seconds``, or at :meth:`flush` / the end of the ``with`` block. A
    write's future gets its result once its files are committed (its error if its write or its group's
    commit failed: a failed write's own files are deleted, the others of its group still committed)."""

    def __init__(self, images: int = GROUP_IMAGES, seconds: float = GROUP_SECONDS):
        self.images, self.seconds = images, seconds
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="write", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[[CommitGroup], Any]) -> Future:
        future: Future = Future()
        self._queue.put((future, write))
        return future

    def flush(self) -> None:
        """Commit what is staged as soon as the writes queued before this call are done."""
        self._queue.put(_FLUSH)

    def __enter__(self) -> "GroupedWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        group, waiting = CommitGroup(), []  # waiting: (future, result) of writes staged in ``group``
        oldest: Optional[float] = None
        while True:
            timeout = None if oldest is None else max(0.0, oldest + self.seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = _FLUSH
            if item is _FLUSH or item is _STOP:
                group, waiting, oldest = self._commit(group, waiting)
                if item is _STOP:
                    return
                continue
            future, write = item
            if self._stage(future, write, group, waiting) and oldest is None:
                oldest = time.monotonic()
            if len(waiting) >= self.images:
                group, waiting, oldest = self._commit(group, waiting)

    @staticmethod
    def _stage(future: Future, write: Callable[[CommitGroup], Any], group: CommitGroup,
               waiting: List[Tuple[Future, Any]]) -> bool:
        """Run one write into its own group, moved into ``group`` on success; True when it joined."""
        if not future.set_running_or_notify_cancel():
            return False
        own = CommitGroup()
        try:
            result = write(own)
        except Exception as exc:  # this image's outputs only: the other images go on
            own.discard()
            future.set_exception(exc)
            return False
        group.take(own)
        waiting.append((future, result))
        return True

    @staticmethod
    def _commit(group: CommitGroup, waiting: List[Tuple[Future, Any]]) -> Tuple[CommitGroup, list, None]:
        """Commit ``group``, resolve the futures of ``waiting``; a fresh empty group and list."""
        try:
            group.commit()
        except Exception as exc:  # a full disk, a failing flush: none of the group's files stand
            logger.debug("committing %d file(s) failed: %s", len(group), exc)
            for future, _ in waiting:
                future.set_exception(exc)
        else:
            for future, result in waiting:
                future.set_result(result)
        return CommitGroup(), [], None
