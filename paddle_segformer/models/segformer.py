"""SegFormer: MiT encoder + all-MLP decoder, with PaddleSeg's model contract and key names."""
from __future__ import annotations

from typing import List, Optional, Tuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddleseg.models import layers as pseg_layers

from ..ops.bias import Conv2D, Linear
from ..ops.resize import resize_add, resize_bilinear
from ..ops.tensors import on_cpu_kernels
from .amp_policy import auto_cast_lists
from .backbone import load_pretrained_into
from .layers import map_to_tokens, tokens_to_map


class LinearEmbed(nn.Layer):
    """Linear embedding of a feature map: (B, C_in, H, W) -> (B, H*W, C_out). Key: ``proj`` (the article's ``MLP``)."""

    def __init__(self, input_dim: int, embed_dim: int):
        super().__init__()
        self.proj = Linear(input_dim, embed_dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.proj(map_to_tokens(x))


class SegFormer(nn.Layer):
    """SegFormer (Xie et al., 2021). (B, C, H, W) -> [logits (B, num_classes, H, W)].

    Args:
        num_classes: number of classes.
        backbone: a :class:`MixVisionTransformer` (anything with ``feat_channels`` and 4 outputs).
        embedding_dim: decoder width; defaults to the backbone variant's (256 for B0/B1, 768 else).
        align_corners: passed to every bilinear resize.
        pretrained: a whole-model checkpoint (path or URL, any format paddle_segformer.weights reads),
            loaded strictly; a different class count re-initialises only ``linear_pred``.
        pretrained_strict: False loads what fits and reports the rest instead of failing.
        band_adapt: how a checkpoint for another band count is fitted (see paddle_segformer.weights.bands).
    """

    def __init__(self, num_classes: int, backbone: nn.Layer, embedding_dim: Optional[int] = None,
                 align_corners: bool = False, pretrained: Optional[str] = None, pretrained_strict: bool = True,
                 band_adapt: str = "rgb_mean"):
        super().__init__()
        if embedding_dim is None:
            embedding_dim = getattr(backbone, "decoder_dim", None)
            if embedding_dim is None:
                raise ValueError("embedding_dim is required for a backbone without a decoder_dim")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.pretrained = pretrained
        self.amp_dtype: Optional[str] = None  # 'bfloat16' runs the forward under auto_cast (GPU only)
        self.backbone = backbone
        # Creation order c4, c3, c2, c1 as in the article's code.
        for i in reversed(range(4)):
            setattr(self, f"linear_c{i + 1}", LinearEmbed(backbone.feat_channels[i], embedding_dim))
        self.dropout = nn.Dropout2D(0.1)
        self.linear_fuse = pseg_layers.ConvBNReLU(embedding_dim * 4, embedding_dim, 1, bias_attr=False)
        self.linear_pred = Conv2D(embedding_dim, num_classes, kernel_size=1)
        self.pretrained_report = load_pretrained_into(self, pretrained, "model", pretrained_strict, band_adapt)

    def _resize(self, x: paddle.Tensor, like: paddle.Tensor) -> paddle.Tensor:
        """Bilinear resize of ``x`` to the spatial size of ``like``. In training on a CPU (dygraph, float32)
        by the compiled kernels of :mod:`paddle_segformer.ops.resize`, whose backward is far cheaper there
        than ``bilinear_interp``'s; elsewhere (GPU, export, evaluation) Paddle's op."""
        if self._compiled_resize(x):
            return resize_bilinear(x, like.shape[2:], self.align_corners)
        return F.interpolate(x, size=paddle.shape(like)[2:], mode="bilinear", align_corners=self.align_corners)

    def _compiled_resize(self, x: paddle.Tensor) -> bool:
        return self.training and on_cpu_kernels(x)

    def _resize_add(self, x: paddle.Tensor, base: paddle.Tensor) -> paddle.Tensor:
        """``base + _resize(x, base)``, in one compiled pass where :meth:`_resize` uses the kernels."""
        if self._compiled_resize(x):
            return resize_add(x, base, self.align_corners)
        return base + self._resize(x, base)

    def decode(self, feats: List[paddle.Tensor]) -> paddle.Tensor:
        """4 encoder maps -> logits at stride 4: (B, num_classes, H/4, W/4). Training takes the folded
        route (:meth:`_decode_folded`), evaluation and export the article's."""
        return self._decode_folded(feats) if self.training else self._decode_article(feats)

    def _decode_article(self, feats: List[paddle.Tensor]) -> paddle.Tensor:
        """The head as the article writes it: project, resize, concat, ``linear_fuse``, ``linear_pred``."""
        projected = []
        for i in reversed(range(4)):
            shape = paddle.shape(feats[i])
            y = getattr(self, f"linear_c{i + 1}")(feats[i])
            y = tokens_to_map(y, shape[2], shape[3])
            projected.append(self._resize(y, feats[0]) if i > 0 else y)
        fused = self.linear_fuse(paddle.concat(projected, axis=1))
        return self.linear_pred(self.dropout(fused))

    def _decode_folded(self, feats: List[paddle.Tensor]) -> paddle.Tensor:
        """:meth:`decode` with ``linear_c{i}`` and its slice of ``linear_fuse``'s conv composed into one
        (D, C_i) map applied at the stage's own resolution, channel-first (no token transposes), the
        results resized and summed: exact, since linear maps commute with bilinear resizing (weights
        summing to 1). No 4D-channel concat, no 4D -> D conv at stride 4 (B0 at 512^2: 4.3 of 8.4
        G multiply-adds). The composition is made of Paddle ops, so gradients reach every weight."""
        weights, bias = self.folded_projections()
        maps = []
        for i in range(4):
            shape = paddle.shape(feats[i])
            y = paddle.matmul(weights[i], feats[i].flatten(2))  # (B, D, h*w)
            if i == 3:  # every bias on the smallest map: resizing keeps constants
                y = y + bias
            maps.append(y.reshape([0, 0, shape[2], shape[3]]))
        total = maps[0]
        for y in reversed(maps[1:]):
            total = self._resize_add(y, total)
        fused = self.linear_fuse._relu(self.linear_fuse._batch_norm(total))
        return self.linear_pred(self.dropout(fused))

    def folded_projections(self) -> Tuple[List[paddle.Tensor], paddle.Tensor]:
        """[(D, C_i)] = linear_fuse's block for stage i times linear_c{i}, and the (D, 1) sum of their biases."""
        conv = self.linear_fuse._conv
        dim = conv.weight.shape[0]
        w_fuse = conv.weight.reshape([dim, -1])  # (D, 4D); its input channels are c4, c3, c2, c1
        weights, bias = [], 0.0
        for i in range(4):
            proj = getattr(self, f"linear_c{i + 1}").proj
            block = w_fuse[:, (3 - i) * dim:(4 - i) * dim]
            weights.append(paddle.matmul(block, proj.weight, transpose_y=True))  # Linear weight is (in, out)
            bias = bias + paddle.matmul(block, proj.bias.unsqueeze(1))
        return weights, bias

    def forward(self, x: paddle.Tensor) -> List[paddle.Tensor]:
        if self.amp_dtype:  # the float32 islands of paddle_segformer.models.amp_policy; the loss sees float32 logits
            with paddle.amp.auto_cast(enable=True, dtype=self.amp_dtype, level="O1", **auto_cast_lists("O1")):
                logit = self.decode(self.backbone(x))
            logit = logit.astype("float32")
        else:
            logit = self.decode(self.backbone(x))
        return [self._resize(logit, x)]
