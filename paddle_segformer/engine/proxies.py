"""Stand-ins for what ``paddleseg.core.train`` looks up at run time: its ``paddle`` and ``shutil`` modules, its
``loss_computation``, the optimizer's ``step`` and the model's ``forward`` and ``clear_gradients``.

Each stand-in wraps one inner object (the original or the next stand-in) and changes one thing;
:mod:`paddle_segformer.engine.hooks` decides where they sit and in which order.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
from typing import TYPE_CHECKING, Any, Callable, List

from ..io.atomic import atomic_save

if TYPE_CHECKING:
    from .data_order import DataOrder
    from .divergence import DivergenceGuard
    from .loss_scale import ScalerWatch
    from .running_state import RunningState

logger = logging.getLogger(__name__)


class PaddleProxy:
    """Stands in for a module (``paddle``, ``shutil``) or a stand-in of it: every name it does not define is the
    inner one's."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def quiet_flops(net: Any, input_size: List[int], *args: Any, **kwargs: Any) -> Any:
    """``paddle.flops`` with its stdout (a "Cannot find suitable count function" line per layer type and
    a table) moved to the debug log. ``paddleseg.core.train`` calls it once at the end of training and
    discards the result; for SegFormer its count is wrong anyway (it misses the attention matmuls:
    :mod:`paddle_segformer.models.flops` has the right one)."""
    import paddle

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = paddle.flops(net, input_size, *args, **kwargs)
    logger.debug("paddle.flops at the end of training:\n%s", printed.getvalue())
    return result


class AtomicSavePaddle(PaddleProxy):
    """``paddle`` for PaddleSeg's loop: saves through a temporary file and a rename (an interrupted save
    leaves no truncated ``model.pdparams``), and :func:`quiet_flops` for the FLOP count printed at its end."""

    save = staticmethod(atomic_save)
    flops = staticmethod(quiet_flops)


class ScalerPaddle(PaddleProxy):
    """``paddle`` whose ``amp`` is a :class:`~paddle_segformer.engine.loss_scale.ScalerWatch` (the loop's
    GradScaler kept, resumed from the checkpoint's loss-scale state)."""

    def __init__(self, inner: Any, watch: "ScalerWatch"):
        super().__init__(inner)
        self.amp = watch


class CheckedSavePaddle(PaddleProxy):
    """``paddle`` whose ``save`` refuses a state with NaN / Inf and reports written files to the guard."""

    def __init__(self, inner: Any, guard: "DivergenceGuard"):
        super().__init__(inner)
        self._guard = guard

    def save(self, obj: Any, path: str, **kwargs: Any) -> None:
        self._guard.check_save(obj, path)
        self._inner.save(obj, path, **kwargs)
        self._guard.saved(path)


class SparingShutil(PaddleProxy):
    """``shutil`` for PaddleSeg's loop, whose ``rmtree`` (``keep_checkpoint_max``: the oldest ``iter_N``) spares
    the guard's last good checkpoint, and deletes it at a later call once a newer good one exists."""

    def __init__(self, inner: Any, guard: "DivergenceGuard"):
        super().__init__(inner)
        self._guard = guard
        self._spared: List[str] = []

    def rmtree(self, path: str, *args: Any, **kwargs: Any) -> None:
        waiting, self._spared = self._spared + [path], []
        for folder in waiting:
            if self._guard.protects(folder):
                self._spared.append(folder)
                if folder == path:
                    logger.info("keep_checkpoint_max: keeping %s, the last good checkpoint (a rollback or a "
                                "resume needs it), until a newer good one is written", folder)
            elif os.path.exists(folder) or folder == path:
                self._inner.rmtree(folder, *args, **kwargs)


def losses_1d(inner: Callable[..., List[Any]]) -> Callable[..., List[Any]]:
    """``loss_computation`` handing back shape-[1] losses: the loop logs ``l[0]``, losses are 0-D in Paddle 3."""

    def loss_computation(*args: Any, **kwargs: Any) -> List[Any]:
        return [loss.reshape([1]) if loss.ndim == 0 else loss for loss in inner(*args, **kwargs)]

    return loss_computation


def recorded_losses(inner: Callable[..., List[Any]], guard: "DivergenceGuard") -> Callable[..., List[Any]]:
    """``loss_computation`` whose losses the guard checks for NaN / Inf."""

    def loss_computation(*args: Any, **kwargs: Any) -> List[Any]:
        losses = inner(*args, **kwargs)
        guard.record_losses(losses)
        return losses

    return loss_computation


def guarded_step(inner: Callable[..., Any], guard: "DivergenceGuard", model: Any) -> Callable[..., Any]:
    """``optimizer.step`` skipped when the loss or the gradient norm is non-finite."""

    def step(*args: Any, **kwargs: Any) -> Any:
        return guard.guarded_step(functools.partial(inner, *args, **kwargs), list(model.parameters()))

    return step


def state_kept_forward(inner: Callable[..., Any], running: "RunningState", model: Any) -> Callable[..., Any]:
    """``model.forward`` that first copies the running state (BatchNorm statistics) when training, for the
    guard to put back if the iteration is skipped."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        if model.training:
            running.take()
        return inner(*args, **kwargs)

    return forward


def seeded_forward(inner: Callable[..., Any], order: "DataOrder", guard: "DivergenceGuard",
                   model: Any) -> Callable[..., Any]:
    """``model.forward`` that seeds Paddle's generator (dropout, drop path) from the iteration when training."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        if model.training:
            order.seed_iteration(guard.iteration + 1)
        return inner(*args, **kwargs)

    return forward


def counted_iterations(inner: Callable[..., Any], guard: "DivergenceGuard") -> Callable[..., Any]:
    """``model.clear_gradients`` (called once at the end of every iteration) that ends the guard's iteration."""

    def clear_gradients(*args: Any, **kwargs: Any) -> Any:
        result = inner(*args, **kwargs)
        guard.end_iteration()
        return result

    return clear_gradients
