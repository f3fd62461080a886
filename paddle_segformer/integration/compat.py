"""The few fixes PaddleSeg 2.8 needs on Paddle 3.x, applied from our side (no vendoring).

Each fix is small, idempotent and has a test showing the unpatched code fails here:

- ``cross_entropy_dtype``: ``CrossEntropyLoss._post_process_loss`` mixes float32 and int64
  (``ones_like(label)``, ``label * mask``), which Paddle 3 refuses to promote.
- ``train_loop``: the permanent rows of :data:`paddle_segformer.engine.hooks.HOOKS`, put over
  ``paddleseg.core.train``: ``train_loss_0d`` (``core/train.py`` logs ``l[0]`` of each loss, but losses are
  0-D now: its ``loss_computation`` hands back shape-[1] losses) and ``atomic_checkpoints`` (``core/train.py``
  writes checkpoints in place, so an interrupted save left a truncated ``model.pdparams``: its
  ``paddle.save`` writes a temporary file and renames it, and its end-of-training ``paddle.flops``
  printout goes to the debug log).
- ``calculate_area_0d``: ``metrics.calculate_area`` concatenates 0-D sums; stacking works.
- ``dataloader_errors`` (Paddle itself): with ``num_workers=0`` the DataLoader reads samples in a
  thread; an exception there (a corrupt image, a bad label) kills the thread and the training or
  evaluation loop waits forever. The error is handed to the main thread and raised there. With
  worker processes the loop stopped with a ``SystemError`` ("Blocking queue is killed") and the
  worker's traceback; there too the dataset's error, with its own message, reaches the main thread.

One more gives configs of PaddleSeg 2.4-2.7 the meaning they had there (see
:mod:`paddle_segformer.integration.legacy_config`):

- ``legacy_config``: ``Config`` reads the deprecated top-level ``learning_rate`` block and the other
  2.4-2.7 forms 2.8 refuses or reads differently.

PaddleSeg's ``SegBuilder`` (dataset facts from the config block, 2.4-2.7's ``PolynomialDecay`` defaults) is
patched in one place of its own: :mod:`paddle_segformer.integration.builder`.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import paddle
import paddle.nn.functional as F

logger = logging.getLogger(__name__)

_FIXES: Dict[str, Callable[[], None]] = {}
_applied: List[str] = []
ORIGINALS: Dict[str, object] = {}  # what each fix replaced, for tests and for undoing


def _fix(name: str):
    def decorate(fn: Callable[[], None]) -> Callable[[], None]:
        _FIXES[name] = fn
        return fn

    return decorate


def post_process_loss(self: Any, logit: paddle.Tensor, label: paddle.Tensor,
                      semantic_weights: Optional[paddle.Tensor], loss: paddle.Tensor) -> paddle.Tensor:
    """Dtype-clean copy of PaddleSeg's ``CrossEntropyLoss._post_process_loss`` (same maths)."""
    if self.avg_non_ignore:
        mask = paddle.cast(label != self.ignore_index, dtype="float32")
    else:
        mask = paddle.ones(label.shape, dtype="float32")
    mask.stop_gradient = True
    label.stop_gradient = True
    if loss.ndim > mask.ndim:
        loss = paddle.squeeze(loss, axis=-1)
    loss = loss * mask
    if semantic_weights is not None:
        loss = loss * semantic_weights
    if self.weight is not None:
        one_hot = F.one_hot(label * mask.astype(label.dtype), logit.shape[-1])
        coef = paddle.sum(one_hot * self.weight, axis=-1)
    else:
        coef = paddle.ones_like(label, dtype="float32")
    if self.top_k_percent_pixels == 1.0:
        return paddle.mean(loss) / (paddle.mean(mask * coef) + self.EPS)
    loss = loss.reshape((-1,))
    top_k_pixels = int(self.top_k_percent_pixels * loss.numel())
    loss, indices = paddle.topk(loss, top_k_pixels)
    coef = paddle.gather(coef.reshape((-1,)), indices)
    coef.stop_gradient = True
    return loss.mean() / (paddle.mean(coef) + self.EPS)


@_fix("cross_entropy_dtype")
def _fix_cross_entropy() -> None:
    from paddleseg.models.losses.cross_entropy_loss import CrossEntropyLoss

    ORIGINALS["cross_entropy_dtype"] = CrossEntropyLoss._post_process_loss
    CrossEntropyLoss._post_process_loss = post_process_loss


@_fix("train_loop")
def _fix_train_loop() -> None:
    from ..engine.hooks import install_permanent

    ORIGINALS.update(install_permanent())  # keyed by hook: train_loss_0d, atomic_checkpoints


def calculate_area(pred: paddle.Tensor, label: paddle.Tensor, num_classes: int,
                   ignore_index: int = 255) -> Tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """PaddleSeg's ``calculate_area`` with ``stack`` for the 0-D per-class sums.

    Returns (intersect, pred, label) pixel counts per class, each int64 of shape [num_classes].
    """
    if len(pred.shape) == 4:
        pred = paddle.squeeze(pred, axis=1)
    if len(label.shape) == 4:
        label = paddle.squeeze(label, axis=1)
    if pred.shape != label.shape:
        raise ValueError(f"Shape of `pred` and `label` should be equal, but there are {pred.shape} and {label.shape}.")
    mask = label != ignore_index
    areas = ([], [], [])
    for i in range(num_classes):
        pred_i = paddle.logical_and(pred == i, mask)
        label_i = label == i
        for store, value in zip(areas, (paddle.logical_and(pred_i, label_i), pred_i, label_i)):
            store.append(paddle.sum(paddle.cast(value, "int64")))
    return tuple(paddle.stack(a).reshape([num_classes]) for a in areas)


@_fix("calculate_area_0d")
def _fix_calculate_area() -> None:
    from paddleseg.utils import metrics

    ORIGINALS["calculate_area_0d"] = metrics.calculate_area
    metrics.calculate_area = calculate_area


def worker_error(exc: BaseException) -> BaseException:
    """A dataset error of a DataLoader worker process as Paddle re-raises it (same type, the worker's whole
    traceback as its message) -> the same type with the original message only (what a user needs)."""
    pattern = rf"(?m)^(?:[\w.]+\.)?{re.escape(type(exc).__name__)}: (.*)$"
    found = re.findall(pattern, str(exc))
    if not found or not str(exc).startswith("DataLoader worker("):
        return exc
    try:
        return type(exc)(found[-1])
    except Exception:  # a type that cannot be made from a message: keep Paddle's
        return exc


def _hand_errors_to_the_consumer(cls: Any, clean: Callable[[BaseException], BaseException]) -> Tuple[Any, Any]:
    """Wrap ``cls``'s reader-thread loop and ``__next__``: an exception in the thread is kept (``clean``-ed)
    and raised by the consumer's next ``__next__``. Returns the originals."""
    loop, step = cls._thread_loop, cls.__next__

    def _thread_loop(self, *args, **kwargs) -> None:
        try:
            loop(self, *args, **kwargs)
        except Exception as exc:  # any dataset error: keep it for the consumer, stop the queue
            self._sample_error = clean(exc)
            self._exit_thread_unexpectedly()

    def __next__(self):
        try:
            return step(self)
        except Exception:
            error = getattr(self, "_sample_error", None)
            if error is not None:
                raise error from None
            raise

    cls._thread_loop, cls.__next__ = _thread_loop, __next__
    return loop, step


@_fix("dataloader_errors")
def _fix_dataloader_errors() -> None:
    from paddle.io.dataloader import dataloader_iter

    ORIGINALS["dataloader_errors"] = _hand_errors_to_the_consumer(dataloader_iter._DataLoaderIterSingleProcess,
                                                                  lambda exc: exc)
    ORIGINALS["dataloader_errors_workers"] = _hand_errors_to_the_consumer(
        dataloader_iter._DataLoaderIterMultiProcess, worker_error)


@_fix("legacy_config")
def _fix_legacy_config() -> None:
    from paddleseg.cvlibs.config import Config

    from .legacy_config import upgrade

    original = Config.__dict__["_parse_from_yaml"]
    ORIGINALS["legacy_config"] = original

    def _parse_from_yaml(cls, path: str, *args, **kwargs) -> dict:
        dic = original.__func__(cls, path, *args, **kwargs)
        notes = upgrade(dic)
        if notes:
            logger.info("%s: read as PaddleSeg 2.4-2.7 did: %s", path, "; ".join(notes))
        return dic

    Config._parse_from_yaml = classmethod(_parse_from_yaml)


def apply() -> List[str]:
    """Apply every fix once; returns the names applied by this call."""
    done = []
    for name, fn in _FIXES.items():
        if name not in _applied:
            fn()
            _applied.append(name)
            done.append(name)
    if done:
        logger.debug("PaddleSeg compatibility fixes applied: %s", ", ".join(done))
    return done


def applied() -> List[str]:
    """Names of the fixes in effect."""
    return list(_applied)
