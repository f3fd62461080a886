"""The MiT-B0..B5 variant table: pure data, importable without paddle.

Numbers follow the official SegFormer code and PaddleSeg (B3 depths are
(3, 4, 18, 3) there; the paper's table says (3, 3, 18, 3)).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Tuple

Quad = Tuple[int, int, int, int]


@dataclass(frozen=True)
class MiTSpec:
    """Hyper-parameters of one Mix Transformer encoder + its all-MLP decoder width."""

    embed_dims: Quad
    depths: Quad
    num_heads: Quad = (1, 2, 5, 8)
    sr_ratios: Quad = (8, 4, 2, 1)  # sequence reduction = sr**2 = 64/16/4/1
    mlp_ratios: Quad = (4, 4, 4, 4)
    decoder_dim: int = 768
    patch_sizes: Quad = (7, 3, 3, 3)  # OverlapPatchEmbed kernels
    strides: Quad = (4, 2, 2, 2)  # OverlapPatchEmbed strides (padding = kernel // 2)


_WIDE = (64, 128, 320, 512)

MIT_VARIANTS: Dict[str, MiTSpec] = {
    "b0": MiTSpec(embed_dims=(32, 64, 160, 256), depths=(2, 2, 2, 2), decoder_dim=256),
    "b1": MiTSpec(embed_dims=_WIDE, depths=(2, 2, 2, 2), decoder_dim=256),
    "b2": MiTSpec(embed_dims=_WIDE, depths=(3, 4, 6, 3)),
    "b3": MiTSpec(embed_dims=_WIDE, depths=(3, 4, 18, 3)),
    "b4": MiTSpec(embed_dims=_WIDE, depths=(3, 8, 27, 3)),
    "b5": MiTSpec(embed_dims=_WIDE, depths=(3, 6, 40, 3)),
}

# Parameter counts in millions (encoder, decoder at 150 classes) as printed in the paper's Table 1.
PAPER_PARAMS_M: Dict[str, Tuple[float, float]] = {
    "b0": (3.4, 0.4),
    "b1": (13.1, 0.6),
    "b2": (24.2, 3.3),
    "b3": (44.0, 3.3),
    "b4": (60.8, 3.3),
    "b5": (81.4, 3.3),
}

_NAME = re.compile(r"^(?:mixvisiontransformer_|mit[_-]?|segformer[_-]?)?(b[0-5])$")


def variant_key(name: str) -> str:
    """Normalise 'B3', 'mit_b3', 'MixVisionTransformer_B3', 'segformer-b3' to 'b3'."""
    match = _NAME.match(name.strip().lower())
    if not match:
        raise KeyError(f"unknown MiT variant {name!r}; known: {', '.join(MIT_VARIANTS)}")
    return match.group(1)


def get_variant(name: str) -> MiTSpec:
    """Return the :class:`MiTSpec` of a variant name (see :func:`variant_key`)."""
    return MIT_VARIANTS[variant_key(name)]


def backbone_name(key: str) -> str:
    """PaddleSeg's registry name of a variant, e.g. 'b3' -> 'MixVisionTransformer_B3'."""
    return f"MixVisionTransformer_{variant_key(key).upper()}"


def model_name(key: str) -> str:
    """PaddleSeg 2.4-2.7's model-level type of a variant, e.g. 'b3' -> 'SegFormer_B3'."""
    return f"SegFormer_{variant_key(key).upper()}"
