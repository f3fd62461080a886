"""Prediction split across processes and nodes (``paddle.distributed.launch``): which files this process does.

Every process lists the same sorted inputs and computes the same split from them, so no process talks to
another to agree on it: each file lands on exactly one rank. Files are placed largest first onto the least
loaded rank (ties: the lower rank), by an estimated cost: a raster scene's pixel count (read from its header),
another image's byte size (compressed tiles are roughly proportional to their pixels; a folder of equal tiles
is then dealt round-robin). One process with the biggest scenes while the others idle is what this avoids.
"""
from __future__ import annotations

import heapq
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence

from ..io.image import RASTER_EXTS


@dataclass(frozen=True)
class Shard:
    """This process's place in the job: ``rank`` of ``world`` processes; ``run`` names the launch (the
    launcher's master address), so that a report left by another launch is never merged into this one."""

    rank: int = 0
    world: int = 1
    run: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is outside 0..{self.world - 1} (PADDLE_TRAINER_ID / "
                             f"PADDLE_TRAINERS_NUM)")

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Shard":
        """The launcher's ``PADDLE_TRAINER_ID`` / ``PADDLE_TRAINERS_NUM`` (also set by hand for jobs started
        by a scheduler), else one process."""
        env = os.environ if env is None else env
        world = int(env.get("PADDLE_TRAINERS_NUM") or env.get("PADDLE_GLOBAL_SIZE") or 1)
        rank = int(env.get("PADDLE_TRAINER_ID") or env.get("PADDLE_GLOBAL_RANK") or 0)
        return cls(rank, world, env.get("PADDLE_MASTER", ""))

    @property
    def single(self) -> bool:
        return self.world == 1

    def pick(self, files: Sequence[Path], cost: Optional[Callable[[Path], int]] = None) -> List[int]:
        """The indices of ``files`` this rank predicts, ascending (all of them for one process)."""
        if self.single:
            return list(range(len(files)))
        return split_by_cost([(cost or estimated_cost)(path) for path in files], self.world)[self.rank]


def estimated_cost(path: Path) -> int:
    """A file's estimated prediction cost: pixel count of a raster scene, byte size of another image."""
    if str(path).lower().endswith(RASTER_EXTS):
        from ..io.raster import read_meta

        try:
            meta = read_meta(path)
            return int(meta.height) * int(meta.width)
        except (OSError, ValueError):  # unreadable: it will fail fast wherever it lands
            return 1
    try:
        return max(1, os.path.getsize(path))
    except OSError:
        return 1


def split_by_cost(costs: Sequence[int], world: int) -> List[List[int]]:
    """Indices ``0..len(costs)-1`` dealt onto ``world`` ranks: largest cost first (ties: lower index) onto the
    least loaded rank (ties: lower rank). Deterministic; every index exactly once; each list ascending."""
    if world < 1:
        raise ValueError(f"world size must be at least 1, got {world}")
    loads = [(0, rank) for rank in range(world)]  # (load, rank): a heap, least loaded first
    shares: List[List[int]] = [[] for _ in range(world)]
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        load, rank = heapq.heappop(loads)
        shares[rank].append(index)
        heapq.heappush(loads, (load + max(int(costs[index]), 0), rank))
    return [sorted(share) for share in shares]


@dataclass(frozen=True)
class FolderJob:
    """How a folder prediction runs beyond one image: this process's ``shard`` of the files, the resume
    ``key`` (the weights' content hash and the options that change outputs; None: no resume, no manifest) and
    ``overwrite`` (redo every file even when the manifest says it is done) and ``report_timeout`` (seconds a
    scene's owner waits for the other ranks' bands when scenes are split by rows, :mod:`.scene_bands`)."""

    shard: Shard = Shard()
    key: Optional[str] = None
    overwrite: bool = False
    report_timeout: float = 3600.0
