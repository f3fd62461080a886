"""Sessions specialised to an input shape, for the runtimes that read a dynamic-shape ONNX file.

With every dimension known, ONNX Runtime folds the graph's shape arithmetic (a few hundred small
Shape / Slice / Concat / Reshape nodes in the paddle2onnx conversion) and plans its buffers once:
measured on this project's CPU at 512 x 512, B0 112 -> 97 ms and B3 805 -> 662 ms a run (median of 30 /
8 interleaved runs). A specialised session costs a session build (B0 0.15 s, B3 1 s), so a shape gets
one only once it has come back (``after`` times seen: a folder of same-size tiles, the tiles of a
scene); a shape seen once, as in a folder of mixed sizes, runs on the dynamic session. At most
``keep`` specialised sessions are kept (least recently used dropped).
"""
from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from typing import Callable, Dict, Generic, Optional, Sequence, Tuple, TypeVar

logger = logging.getLogger(__name__)

Runner = TypeVar("Runner")
Shape = Tuple[int, ...]


def symbolic_dims(declared: Sequence[object], shape: Shape) -> Dict[str, int]:
    """{dimension name: size} for the named (symbolic) dimensions of a declared input shape."""
    if len(declared) != len(shape):
        raise ValueError(f"input of rank {len(shape)} for a model input of rank {len(declared)}")
    return {str(dim): int(size) for dim, size in zip(declared, shape) if isinstance(dim, str)}


class ShapeSpecialised(Generic[Runner]):
    """``runner_for(shape)``: the dynamic runner, or one built for that shape by ``specialise(shape)``."""

    def __init__(self, dynamic: Runner, specialise: Callable[[Shape], Runner], after: int = 2, keep: int = 2):
        self.dynamic = dynamic
        self.specialise = specialise
        self.after, self.keep = after, keep
        self.seen: Counter = Counter()
        self.runners: "OrderedDict[Shape, Runner]" = OrderedDict()

    def runner_for(self, shape: Shape) -> Runner:
        shape = tuple(int(s) for s in shape)
        runner: Optional[Runner] = self.runners.get(shape)
        if runner is not None:
            self.runners.move_to_end(shape)
            return runner
        self.seen[shape] += 1
        if self.seen[shape] < self.after or self.keep < 1:
            return self.dynamic
        runner = self.specialise(shape)
        logger.debug("runtime session specialised to input shape %s", shape)
        self.runners[shape] = runner
        if len(self.runners) > self.keep:
            self.runners.popitem(last=False)
        return runner
