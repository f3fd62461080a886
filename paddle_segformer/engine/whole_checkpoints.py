"""``iter_N`` checkpoint folders that appear whole or not at all.

PaddleSeg's loop makes ``save_dir/iter_N`` and then saves ``model.pdparams`` and ``model.pdopt`` into it
one after the other; each file is atomic (``engine.proxies.AtomicSavePaddle``), but a kill between them left
a folder with weights and no optimizer state under a checkpoint's name. Here the loop's ``os.makedirs`` of an
``iter_N`` folder does nothing, its saves into it go to a hidden ``.iter_N.*.part`` folder beside it, and
when the last file (``model.pdopt``) is in, the run's extras are added (the data position, the loss scale),
everything is fsync'ed and the folder renamed to ``iter_N`` in one step. Leftover ``.part`` folders of a run
killed while saving are removed when the next run in that folder starts.
"""
from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Callable, Dict, List, Optional

from ..io.atomic import publish_dir, temp_dir_beside, temp_target
from .divergence import ITER_DIR
from .proxies import PaddleProxy

logger = logging.getLogger(__name__)

LAST_FILE = "model.pdopt"  # the last file PaddleSeg's loop saves into an iter_N folder (no EMA here)

Extra = Callable[[str], Any]  # writes one more file into a checkpoint folder before it is published


class CheckpointFolders:
    """Where one run's ``iter_N`` folders are built (``save_dir`` None: nowhere, saves go through unchanged)."""

    def __init__(self, save_dir: Optional[str], extras: Optional[List[Extra]] = None):
        self.save_dir = os.path.abspath(save_dir) if save_dir else None
        self.extras: List[Extra] = extras if extras is not None else []
        self._staging: Dict[str, str] = {}  # iter_N folder -> its .part folder

    def is_checkpoint(self, folder: str) -> bool:
        folder = os.path.abspath(folder)
        return os.path.dirname(folder) == self.save_dir and bool(ITER_DIR.match(os.path.basename(folder)))

    def target(self, path: str) -> str:
        """Where a save to ``path`` really goes: into the ``.part`` folder of an ``iter_N``, else ``path``."""
        folder = os.path.dirname(os.path.abspath(path))
        if not self.is_checkpoint(folder):
            return path
        if folder not in self._staging:
            self._staging[folder] = temp_dir_beside(folder)
        return os.path.join(self._staging[folder], os.path.basename(path))

    def saved(self, path: str) -> None:
        """After a save to ``path``: once the last file of an ``iter_N`` is in, add the extras and publish it."""
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(path) != LAST_FILE or folder not in self._staging:
            return
        staging = self._staging.pop(folder)
        for extra in self.extras:
            extra(staging)
        replace_folder(staging, folder)
        logger.debug("checkpoint %s published", folder)

    def discard(self) -> None:
        """Remove the ``.part`` folders of checkpoints that were never finished (training raised)."""
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._staging.clear()

    def remove_leftovers(self) -> List[str]:
        """Remove ``.iter_N.*.part`` folders a killed run left in ``save_dir``; returns their paths."""
        if not self.save_dir or not os.path.isdir(self.save_dir):
            return []
        found = [os.path.join(self.save_dir, n) for n in sorted(os.listdir(self.save_dir))
                 if ITER_DIR.match(temp_target(n) or "")]
        for path in found:
            logger.info("removing %s: an unfinished checkpoint of a run stopped while it saved", path)
            shutil.rmtree(path, ignore_errors=True)
        return found


def replace_folder(staging: str, folder: str) -> None:
    """Publish the finished ``staging`` folder as ``folder``. An ``iter_N`` a resumed run writes again is
    moved aside first and deleted after (between the two renames the newest checkpoint is an older one)."""
    if os.path.isdir(folder) and os.listdir(folder):
        aside = temp_dir_beside(folder)
        os.replace(folder, aside)
        publish_dir(staging, folder)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        publish_dir(staging, folder)


class StagedSavePaddle(PaddleProxy):
    """``paddle`` whose ``save`` into an ``iter_N`` folder goes through :class:`CheckpointFolders`."""

    def __init__(self, inner: Any, folders: CheckpointFolders):
        super().__init__(inner)
        self._folders = folders

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        self._inner.save(obj, self._folders.target(path), **kwargs)
        self._folders.saved(path)


class StagedOs(PaddleProxy):
    """``os`` whose ``makedirs`` of an ``iter_N`` folder does nothing (its ``.part`` folder is made at the
    first save into it)."""

    def __init__(self, inner: Any, folders: CheckpointFolders):
        super().__init__(inner)
        self._folders = folders

    def makedirs(self, path: str, *args: Any, **kwargs: Any) -> None:
        if not self._folders.is_checkpoint(path):
            self._inner.makedirs(path, *args, **kwargs)
