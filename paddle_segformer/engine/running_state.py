"""What a training forward pass changes besides the activations: the model's running state.

In Paddle, BatchNorm's running mean and variance are parameters with ``trainable=False`` (not buffers), and
the forward pass updates them in place before any loss exists. :class:`RunningState` copies that state
(buffers and non-trainable parameters, never the trainable weights) before each training forward, so the
divergence guard can put it back when it skips the iteration: a NaN born in the forward pass then leaves
no trace in the statistics either.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Tuple

logger = logging.getLogger(__name__)


def running_tensors(model: Any) -> List[Any]:
    """The model's buffers and non-trainable parameters (BatchNorm statistics), in a fixed order."""
    tensors = [buffer for _, buffer in model.named_buffers()]
    return tensors + [p for p in model.parameters() if not p.trainable]


class RunningState:
    """A copy of one model's running state taken before a training forward, put back on request."""

    def __init__(self, model: Any):
        self.model = model
        self._saved: Optional[List[Tuple[Any, Any]]] = None

    def take(self) -> None:
        """Copy the running state now (called before every training forward)."""
        import paddle

        with paddle.no_grad():
            self._saved = [(tensor, tensor.clone()) for tensor in running_tensors(self.model)]

    def restore(self) -> int:
        """Put back the state of the last :meth:`take` (in place); returns how many tensors were restored."""
        import paddle

        if not self._saved:
            return 0
        with paddle.no_grad():
            for tensor, saved in self._saved:
                paddle.assign(saved, output=tensor)
        logger.debug("running state of %d tensors restored", len(self._saved))
        return len(self._saved)
