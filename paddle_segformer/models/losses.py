"""PaddleSeg's ``DiceLoss`` without its side effect on the labels.

PaddleSeg 2.8's ``DiceLoss.forward`` writes 0 into the caller's label tensor where it holds the ignore
index (``labels[labels == ignore_index] = 0``). In a ``MixedLoss`` (or a loss list) every loss after it
then sees ignored pixels as class 0: a cross-entropy placed after Dice trains on them. This class
computes the same loss (same maths, PaddleSeg's code) on a copy of the labels; ``register()`` serves it
for ``type: DiceLoss``.

PaddleSeg's ``CrossEntropyLoss`` is kept, but :func:`install_fast_cross_entropy` (called by ``register()``)
routes its forward through the compiled CPU kernel (:mod:`paddle_segformer.ops.cross_entropy`) for the cases
it covers (float32 CPU tensors in dygraph, NCHW, no top-k pixel mining, no per-pixel weights); every other
call, and GPUs, go to PaddleSeg's code unchanged.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

import paddle
from paddleseg.models.losses import DiceLoss as PaddleSegDiceLoss

from ..ops.cross_entropy import softmax_cross_entropy
from ..ops.tensors import on_cpu_kernels

logger = logging.getLogger(__name__)


class DiceLoss(PaddleSegDiceLoss):
    """Soft Dice over the classes, ignored pixels masked out (PaddleSeg's definition, smooth 1).

    logits (N, C, H, W) float, labels (N, H, W) int64 -> 0-D loss; ``labels`` is left untouched."""

    def forward(self, logits: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        return super().forward(logits, labels.clone())


_ORIGINAL: Dict[str, Any] = {}


def _label_shape(label: paddle.Tensor) -> list:
    shape = list(label.shape)
    return shape[:1] + shape[2:] if len(shape) == 4 and shape[1] == 1 else shape


def _covers(loss: Any, logit: paddle.Tensor, label: paddle.Tensor, semantic_weights: Any) -> bool:
    """True when the call is one that :func:`softmax_cross_entropy` computes exactly as PaddleSeg."""
    weight = loss.weight
    return (on_cpu_kernels(logit) and logit.ndim == 4 and loss.data_format == "NCHW"
            and loss.top_k_percent_pixels == 1.0 and semantic_weights is None
            and _label_shape(label) == [logit.shape[0]] + logit.shape[2:]
            and (weight is None or (loss.avg_non_ignore and len(weight) == logit.shape[1])))


def _ce_forward(self: Any, logit: paddle.Tensor, label: paddle.Tensor, semantic_weights: Any = None) -> paddle.Tensor:
    if not _covers(self, logit, label, semantic_weights):
        return _ORIGINAL["forward"](self, logit, label, semantic_weights)
    weight = None if self.weight is None else self.weight.numpy()
    return softmax_cross_entropy(logit, label, self.ignore_index, weight, self.avg_non_ignore, self.EPS)


def install_fast_cross_entropy() -> bool:
    """Route PaddleSeg's ``CrossEntropyLoss.forward`` through the CPU kernel where it applies (idempotent);
    True when this call installed it."""
    from paddleseg.models.losses import CrossEntropyLoss

    if "forward" in _ORIGINAL:
        return False
    _ORIGINAL["forward"] = CrossEntropyLoss.forward
    CrossEntropyLoss.forward = _ce_forward
    logger.debug("CrossEntropyLoss on CPU float32 logits: compiled kernel (paddle_segformer.ops.cross_entropy)")
    return True


def uninstall_fast_cross_entropy() -> None:
    """Give ``CrossEntropyLoss`` its own forward back."""
    from paddleseg.models.losses import CrossEntropyLoss

    if "forward" in _ORIGINAL:
        CrossEntropyLoss.forward = _ORIGINAL.pop("forward")
