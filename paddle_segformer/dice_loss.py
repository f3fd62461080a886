"""PaddleSeg's ``DiceLoss`` without its side effect on the labels.

PaddleSeg 2.8's ``DiceLoss.forward`` writes 0 into the caller's label tensor where it holds the ignore
index (``labels[labels == ignore_index] = 0``). In a ``MixedLoss`` (or a loss list) every loss after it
then sees ignored pixels as class 0: a cross-entropy placed after Dice trains on them. This class
computes the same loss (same maths, PaddleSeg's code) on a copy of the labels; ``register()`` serves it
for ``type: DiceLoss``.
"""
from __future__ import annotations

import paddle
from paddleseg.models.losses import DiceLoss as PaddleSegDiceLoss


class DiceLoss(PaddleSegDiceLoss):
    """Soft Dice over the classes, ignored pixels masked out (PaddleSeg's definition, smooth 1).

    logits (N, C, H, W) float, labels (N, H, W) int64 -> 0-D loss; ``labels`` is left untouched."""

    def forward(self, logits: paddle.Tensor, labels: paddle.Tensor) -> paddle.Tensor:
        return super().forward(logits, labels.clone())
