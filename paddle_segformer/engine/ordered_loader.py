"""``paddle.io`` for PaddleSeg's loop, whose sampler and loader follow a :class:`DataOrder`.

PaddleSeg's ``core.train`` makes ``paddle.io.DistributedBatchSampler(dataset, batch_size, shuffle=True,
drop_last=True)`` and ``paddle.io.DataLoader(dataset, batch_sampler=...)`` itself; the stand-in below gives
it :class:`ResumableBatchSampler` (Paddle's sampler, same shuffle, started at the checkpoint's epoch and
batch, handing out keys ``epoch * len + index``) and a loader over :class:`SeededSamples`.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, List, Optional

import paddle

from .data_order import DataOrder, Position, SeededSamples
from .proxies import PaddleProxy

logger = logging.getLogger(__name__)


class ResumableBatchSampler(paddle.io.DistributedBatchSampler):
    """Paddle's ``DistributedBatchSampler`` (its shuffle: ``RandomState(epoch)``) that starts at batch
    ``start`` counted over all epochs, and yields keys ``epoch * len(dataset) + index``."""

    def __init__(self, dataset: Any, order: DataOrder, **kwargs: Any):
        super().__init__(dataset, **kwargs)
        self.order = order
        self.start = order.attach(len(dataset), self.batch_size, self.nranks, len(self))
        self.epoch, self._skip = divmod(self.start, order.batches_per_epoch)
        if self.start:
            logger.info("data order: starting at epoch %d, batch %d of %d (run seed %d)", self.epoch,
                        self._skip, order.batches_per_epoch, order.seed)

    def __iter__(self) -> Iterator[List[int]]:
        epoch, skip, self._skip = self.epoch, self._skip, 0
        offset = epoch * len(self.dataset)
        for i, batch in enumerate(super().__iter__()):  # increments self.epoch
            if i >= skip:
                yield [offset + int(index) for index in batch]

    def position(self, iteration: int) -> Position:
        return self.order.position(iteration, self.start)


class OrderedIo(PaddleProxy):
    """Stands in for ``paddle.io`` inside the loop; every other name is Paddle's."""

    def __init__(self, inner: Any, order: DataOrder):
        super().__init__(inner)
        self._order = order
        self.sampler: Optional[ResumableBatchSampler] = None  # set when the loop makes it

    def DistributedBatchSampler(self, dataset: Any, **kwargs: Any) -> ResumableBatchSampler:  # noqa: N802
        self.sampler = ResumableBatchSampler(dataset, self._order, **kwargs)
        return self.sampler

    def DataLoader(self, dataset: Any, *args: Any, batch_sampler: Any = None, **kwargs: Any) -> Any:  # noqa: N802
        if isinstance(batch_sampler, ResumableBatchSampler):
            dataset = SeededSamples(dataset, self._order)
        return self._inner.DataLoader(dataset, *args, batch_sampler=batch_sampler, **kwargs)


class OrderedPaddle(PaddleProxy):
    """``paddle`` whose ``io`` is an :class:`OrderedIo`."""

    def __init__(self, inner: Any, order: DataOrder):
        super().__init__(inner)
        self.io = OrderedIo(inner.io, order)
