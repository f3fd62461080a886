"""The inference graph: a trained SegFormer rewritten for speed, same outputs up to float rounding.

Two rewrites, both exact in real arithmetic:

* The all-MLP head projects each stage with ``linear_c{i}``, upsamples to stride 4, concatenates and
  applies ``linear_fuse`` (a 1x1 conv on 4 x D channels) and its BatchNorm. Per-pixel linear maps
  commute with bilinear resizing (whose weights sum to 1), so ``linear_fuse`` and the eval-mode
  BatchNorm fold into ``linear_c{i}``: each stage becomes one 1x1 conv to D channels at its own
  resolution, the results are upsampled and summed. At 512 x 512 this removes the
  4D -> D conv at stride 4: 4.3 of B0's 8.4 G multiply-adds and 38.7 of B3's 79 G.
* The final full-resolution upsampling of K-class logits is left out of the graph: the graph returns
  logits at stride 4 and :mod:`paddle_segformer.inference.upsample` turns them into labels, computing
  the interpolation only where the four source pixels disagree on the class.
"""
from __future__ import annotations

from typing import List

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def _np(t: paddle.Tensor) -> np.ndarray:
    return t.numpy().astype(np.float64)


def fold_head(model: nn.Layer) -> List[tuple]:
    """[(weight (D, C_i), bias (D,) or None)] per stage: linear_c{i} -> linear_fuse -> BatchNorm folded
    (the first two composed by ``model.folded_projections``); the bias goes to stage 1, not resized."""
    if model.linear_fuse._conv.bias is not None:
        raise ValueError("linear_fuse is expected without a conv bias (ConvBNReLU(bias_attr=False))")
    bn = model.linear_fuse._batch_norm
    scale = _np(bn.weight) / np.sqrt(_np(bn._variance) + bn._epsilon)
    with paddle.no_grad():
        weights, bias = model.folded_projections()
    bias = _np(bn.bias) + scale * (_np(bias)[:, 0] - _np(bn._mean))
    return [(scale[:, None] * _np(w), bias if i == 0 else None) for i, w in enumerate(weights)]


class FoldedHead(nn.Layer):
    """All-MLP head with linear_fuse + BatchNorm folded in. 4 maps -> logits (B, K, H/4, W/4)."""

    def __init__(self, model: nn.Layer):
        super().__init__()
        self.align_corners = model.align_corners
        self.proj = nn.LayerList()
        for weight, bias in fold_head(model):
            dim, channels = weight.shape
            conv = nn.Conv2D(channels, dim, 1, bias_attr=None if bias is not None else False)
            conv.weight.set_value(weight[:, :, None, None].astype(np.float32))
            if bias is not None:
                conv.bias.set_value(bias.astype(np.float32))
            self.proj.append(conv)
        self.linear_pred = model.linear_pred

    def forward(self, feats: List[paddle.Tensor]) -> paddle.Tensor:
        size = paddle.shape(feats[0])[2:]
        y = self.proj[0](feats[0])
        for i in range(1, 4):
            y = y + F.interpolate(self.proj[i](feats[i]), size=size, mode="bilinear",
                                  align_corners=self.align_corners)
        return self.linear_pred(F.relu(y))


class InferenceGraph(nn.Layer):
    """Eval-only SegFormer: (N, C, H, W) normalised -> logits (N, K, ceil(H/4), ceil(W/4)).

    Shares the backbone and ``linear_pred`` with ``model`` (weights are not copied); the head is folded
    from the weights ``model`` has now, so build it after loading a checkpoint.
    """

    def __init__(self, model: nn.Layer):
        super().__init__()
        if model.training:
            model.eval()
        self.backbone = model.backbone
        self.head = FoldedHead(model)
        self.num_classes = model.num_classes
        self.align_corners = model.align_corners
        self.eval()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.head(self.backbone(x))
