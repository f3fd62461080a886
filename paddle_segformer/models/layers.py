"""Building blocks of the Mix Transformer (names and state-dict keys as in the article's code).

Tokens are laid out as (B, N, C) with N = H * W in row-major order; H and W are passed
alongside because patch embeddings overlap and sizes need not divide evenly.
"""
from __future__ import annotations

import math
from typing import Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.initializer import Normal
# PaddleSeg's stochastic depth and its transformer initialisers (trunc-normal std 0.02 within +-2, 0, 1):
# the same operations as the article's code.
from paddleseg.models.backbones.transformer_utils import DropPath, ones_, trunc_normal_, zeros_

from ..ops.bias import Conv2D, Linear
from ..ops.depthwise import DepthwiseTokens
from ..ops.tensors import on_cpu_kernels
from .amp_policy import amp_active, autocast_off

Dim = Union[int, paddle.Tensor]  # a height or width: int in dynamic mode, 0-D tensor when exported

# LayerNorm epsilon inside blocks and after each stage (official code / PaddleSeg);
# patch-embed and spatial-reduction norms keep the framework default (1e-5).
BLOCK_NORM_EPS = 1e-6


def init_weights(layer: nn.Layer) -> None:
    """Article initialisation: trunc-normal(0.02) Linear, unit LayerNorm, He-normal(fan_out) Conv."""
    if isinstance(layer, nn.Linear):
        trunc_normal_(layer.weight)
        if layer.bias is not None:
            zeros_(layer.bias)
    elif isinstance(layer, nn.LayerNorm):
        ones_(layer.weight)
        zeros_(layer.bias)
    elif isinstance(layer, nn.Conv2D):
        kh, kw = layer._kernel_size
        fan_out = kh * kw * layer._out_channels // layer._groups
        Normal(0.0, math.sqrt(2.0 / fan_out))(layer.weight)
        if layer.bias is not None:
            zeros_(layer.bias)


# Both conversions are a 4-D reshape and a 4-D transpose (not a 3-D transpose of (B, N, C)): the same
# values, and OpenVINO folds a 4-D NHWC <-> NCHW transpose beside a convolution into the layout the
# convolution runs in; a 3-D one it runs as its own kernel (7-15 ms of Transposes at B0, 512^2, INT8).
def tokens_to_map(x: paddle.Tensor, h: Dim, w: Dim) -> paddle.Tensor:
    """(B, N, C) -> (B, C, H, W)."""
    return x.reshape([0, h, w, x.shape[2]]).transpose([0, 3, 1, 2])


def map_to_tokens(x: paddle.Tensor) -> paddle.Tensor:
    """(B, C, H, W) -> (B, H*W, C)."""
    return x.transpose([0, 2, 3, 1]).reshape([0, -1, x.shape[1]])


def attention_probs(q: paddle.Tensor, k: paddle.Tensor, scale: float) -> paddle.Tensor:
    """softmax(q k^T * scale) over the keys: (B, heads, N, d), (B, heads, M, d) -> (B, heads, N, M).

    Under mixed precision the scores and the softmax are a float32 island (paddle_segformer.models.amp_policy):
    autocast would cast the matmul to half, so it is turned off here and q, k are cast to float32.
    """
    if not amp_active():
        return F.softmax(paddle.matmul(q, k, transpose_y=True) * scale, axis=-1)
    with autocast_off():
        scores = paddle.matmul(q.astype("float32"), k.astype("float32"), transpose_y=True) * scale
        return F.softmax(scores, axis=-1)


class OverlapPatchEmbed(nn.Layer):
    """Overlapping patch merging: conv (K, S, P=K//2) then LayerNorm.

    (B, C_in, H, W) -> tokens (B, H'*W', C), H', W' with H' = (H + 2P - K) // S + 1.
    """

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int = 7, stride: int = 4):
        super().__init__()
        self.proj = Conv2D(in_channels, embed_dim, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: paddle.Tensor) -> Tuple[paddle.Tensor, Dim, Dim]:
        x = self.proj(x)
        size = paddle.shape(x)
        return self.norm(map_to_tokens(x)), size[2], size[3]


class Attention(nn.Layer):
    """Efficient self-attention: keys/values come from a map shrunk by ``sr_ratio`` in each side.

    (B, N, C) -> (B, N, C); the key/value sequence has N / sr_ratio**2 tokens.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim, self.num_heads, self.sr_ratio = dim, num_heads, sr_ratio
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        bias = None if qkv_bias else False
        self.q = Linear(dim, dim, bias_attr=bias)
        self.kv = Linear(dim, dim * 2, bias_attr=bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        if sr_ratio > 1:
            self.sr = Conv2D(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: paddle.Tensor, h: Dim, w: Dim) -> paddle.Tensor:
        q = self.q(x).reshape([0, 0, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3])
        if self.sr_ratio > 1:
            x = self.norm(map_to_tokens(self.sr(tokens_to_map(x, h, w))))
        kv = self.kv(x).reshape([0, -1, 2, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        k, v = kv[0], kv[1]
        attn = attention_probs(q, k, self.scale)
        out = paddle.matmul(self.attn_drop(attn), v)  # (B, heads, N, head_dim)
        out = out.transpose([0, 2, 1, 3]).reshape([0, 0, self.dim])
        return self.proj_drop(self.proj(out))


class DWConv(nn.Layer):
    """3x3 depth-wise conv on tokens: (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = Conv2D(dim, dim, 3, stride=1, padding=1, groups=dim)

    def forward(self, x: paddle.Tensor, h: Dim, w: Dim) -> paddle.Tensor:
        conv = self.dwconv
        # Training only: under no_grad (evaluation, paddle.flops) the conv layer itself runs, so its
        # hooks do too (paddle.flops leaves buffers on a layer whose forward was bypassed).
        trainable = paddle.is_grad_enabled() and not (conv.weight.stop_gradient or conv.bias.stop_gradient)
        if trainable and on_cpu_kernels(x):
            return DepthwiseTokens.apply(x, conv.weight, conv.bias, int(h), int(w))
        return map_to_tokens(conv(tokens_to_map(x, h, w)))


class MixFFN(nn.Layer):
    """Mix-FFN: Linear -> 3x3 depth-wise conv -> GELU -> Linear (the conv replaces positional encoding).
    Named ``Mlp`` in the article's code, next to the head's ``MLP``; the keys (``mlp.fc1`` ...) are kept."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = Linear(dim, hidden_dim)
        self.dwconv = DWConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: paddle.Tensor, h: Dim, w: Dim) -> paddle.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x), h, w)))
        return self.drop(self.fc2(x))


class Block(nn.Layer):
    """Pre-norm transformer block: x + DropPath(Attn(LN(x))), then x + DropPath(MixFFN(LN(x)))."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: float | None = None, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=BLOCK_NORM_EPS)
        self.attn = Attention(dim, num_heads, sr_ratio, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, epsilon=BLOCK_NORM_EPS)
        self.mlp = MixFFN(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: paddle.Tensor, h: Dim, w: Dim) -> paddle.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x), h, w))
