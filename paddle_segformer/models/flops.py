"""Multiply-accumulate count of a SegFormer forward pass, attention matmuls included.

``paddle.flops`` and torch's FlopCounterMode miss the two attention matmuls (7.35 / 73.1 G for B0 /
B3 at 512 x 512); this count includes them and reproduces the paper's table (8.4 G for B0 and 79.0 G
for B3 at 512 x 512, 183.3 G for B5 at 640 x 640, 150 classes). Convolutions, linear layers and the
attention matmuls are counted; norms, activations, softmax and resizing are not (as in the paper).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

from ..variants import MiTSpec, get_variant


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates (not FLOPs: one MAC is two FLOPs) by part of the network."""

    encoder: int
    attention_matmuls: int  # included in ``encoder``
    decoder: int

    @property
    def total(self) -> int:
        return self.encoder + self.decoder

    @property
    def gflops(self) -> float:
        """Floating-point operations in G (2 per MAC)."""
        return 2 * self.total / 1e9


def _block_macs(tokens: int, kv_tokens: int, dim: int, sr: int, mlp_ratio: float) -> Dict[str, int]:
    hidden = int(dim * mlp_ratio)
    linear = tokens * dim * dim * 2 + kv_tokens * dim * dim * 2  # q, proj; kv
    if sr > 1:
        linear += kv_tokens * dim * dim * sr * sr  # spatial-reduction conv
    mlp = tokens * dim * hidden * 2 + tokens * hidden * 9  # fc1, fc2; 3x3 depth-wise conv
    return {"dense": linear + mlp, "attention": 2 * tokens * kv_tokens * dim}


def segformer_macs(variant: str, height: int, width: int, num_classes: int = 150, in_channels: int = 3,
                   decoder_dim: int = 0) -> MacCount:
    """MACs of SegFormer-``variant`` on one (in_channels, height, width) input."""
    spec: MiTSpec = get_variant(variant)
    dim_d = decoder_dim or spec.decoder_dim
    encoder = attention = decoder = 0
    h, w, channels = height, width, in_channels
    sizes = []
    for i in range(4):
        k, s, c = spec.patch_sizes[i], spec.strides[i], spec.embed_dims[i]
        h, w = _conv_out(h, k, s, k // 2), _conv_out(w, k, s, k // 2)
        encoder += channels * c * k * k * h * w
        r = spec.sr_ratios[i]
        kv_tokens = (h // r) * (w // r) if r > 1 else h * w
        block = _block_macs(h * w, kv_tokens, c, r, spec.mlp_ratios[i])
        encoder += spec.depths[i] * (block["dense"] + block["attention"])
        attention += spec.depths[i] * block["attention"]
        decoder += h * w * c * dim_d  # linear_c{i+1}
        sizes.append((h, w))
        channels = c
    h1, w1 = sizes[0]
    decoder += h1 * w1 * (4 * dim_d * dim_d + dim_d * num_classes)  # linear_fuse, linear_pred
    return MacCount(encoder=encoder, attention_matmuls=attention, decoder=decoder)
