"""The order of training samples and the random draws around them, as part of the checkpoint.

PaddleSeg's loop shuffles with ``DistributedBatchSampler`` (``np.random.RandomState(epoch)``: the order of
epoch e is fixed, but a resumed run starts again at epoch 0, batch 0), augments with numpy's and Python's
global random streams (drawn ahead of the loop by the loader's prefetching, so their state at a save is
not the state the next iteration needs) and draws dropout / drop-path masks from Paddle's generator. A run
resumed from ``iter_N`` therefore saw other batches, other crops and other masks than the uninterrupted
run. :class:`DataOrder` makes all three a function of the position alone:

- the sampler (:class:`ResumableBatchSampler`) starts at the epoch and batch the checkpoint recorded
  (``train_state.json`` in every ``iter_N``);
- every sample is augmented after seeding numpy and ``random`` from (run seed, epoch, sample index)
  (:class:`SeededSamples`), so prefetching, ``num_workers`` and resuming do not change a crop;
- every training forward seeds Paddle from (run seed, iteration, rank) (:meth:`DataOrder.seed_iteration`).

The run seed is ``--seed`` (a random one when not given), recorded in the checkpoint and reused on resume.
"""
from __future__ import annotations

import json
import logging
import os
import random
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

import numpy as np

from ..io.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.json"


def mixed_seed(*parts: int) -> int:
    """A 32-bit seed from integers, the same on every platform (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts]).generate_state(1)[0])


@dataclass(frozen=True)
class Position:
    """Where the data stream stands after ``iteration`` iterations: ``batch`` batches into ``epoch``, with
    the sizes that make those numbers meaningful."""

    iteration: int
    epoch: int
    batch: int
    batches_per_epoch: int
    samples: int
    batch_size: int
    nranks: int
    seed: int


def read_state(folder: Optional[str]) -> Optional[Dict[str, Any]]:
    """``folder/train_state.json`` as a dict, or None when the checkpoint has none (PaddleSeg's own)."""
    path = os.path.join(folder, STATE_FILE) if folder else ""
    if not path or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class DataOrder:
    """One run's sample order and seeds. ``start``: batches consumed before this run (all epochs)."""

    def __init__(self, seed: Optional[int], resume: Optional[str], iteration: int, rank: int = 0):
        saved = read_state(resume)
        self.resume, self.iteration0, self.rank = resume, iteration, rank
        self.seed = int(saved["seed"]) if saved else (seed if seed is not None else secrets.randbits(32))
        if saved and seed is not None and seed != self.seed:
            logger.warning("--seed %d ignored: the run resumed from %s continues with its seed %d",
                           seed, resume, self.seed)
        self._saved = saved
        self.batches_per_epoch = 0
        self.samples = self.batch_size = self.nranks = 0

    def attach(self, samples: int, batch_size: int, nranks: int, batches_per_epoch: int) -> int:
        """Called by the sampler PaddleSeg's loop makes; returns the batch (all epochs) to start from."""
        self.samples, self.batch_size, self.nranks = samples, batch_size, nranks
        self.batches_per_epoch = max(batches_per_epoch, 1)
        saved = self._saved
        if saved is None:
            if self.resume:
                logger.info("%s has no %s (not written by this package): the data order continues as "
                            "the uninterrupted run's would if nothing changed since", self.resume, STATE_FILE)
            return self.iteration0
        now = {"samples": samples, "batch_size": batch_size, "nranks": nranks}
        then = {key: saved.get(key) for key in now}
        if now != then:
            logger.warning("the data changed since %s was written (%s then, %s now): training continues at "
                           "epoch %d with another sample order than the uninterrupted run's",
                           self.resume, then, now, saved["epoch"])
            return int(saved["epoch"]) * self.batches_per_epoch
        return int(saved["epoch"]) * self.batches_per_epoch + int(saved["batch"])

    def position(self, iteration: int, start: int) -> Position:
        """The position after ``iteration`` iterations of a run that started at batch ``start``."""
        consumed = start + iteration - self.iteration0
        epoch, batch = divmod(consumed, self.batches_per_epoch)
        return Position(iteration, epoch, batch, self.batches_per_epoch, self.samples, self.batch_size,
                        self.nranks, self.seed)

    def sample_seed(self, key: int) -> int:
        return mixed_seed(self.seed, 1, key)

    def seed_iteration(self, iteration: int) -> None:
        """Seed Paddle's generator for the training forward of ``iteration`` (1-based)."""
        import paddle

        paddle.seed(mixed_seed(self.seed, 2, iteration, self.rank))


class SeededSamples:
    """The training dataset read through keys ``epoch * len + index``: numpy's and Python's global streams
    are seeded from the key before the sample is loaded and augmented."""

    def __init__(self, dataset: Any, order: DataOrder):
        self.dataset, self.order = dataset, order

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int) -> Any:
        seed = self.order.sample_seed(int(key))
        np.random.seed(seed)
        random.seed(seed)
        return self.dataset[int(key) % len(self.dataset)]

    def __getattr__(self, name: str) -> Any:  # NUM_CLASSES, file_list, ... of the dataset
        if "dataset" not in self.__dict__:  # while unpickling in a loader worker
            raise AttributeError(name)
        return getattr(self.__dict__["dataset"], name)


def write_position(position: Position, folder: str) -> str:
    """Write ``position`` to ``folder/train_state.json`` (atomically); returns the path."""
    path = os.path.join(folder, STATE_FILE)
    atomic_write_bytes(path, (json.dumps(asdict(position), indent=1) + "\n").encode())
    return path
