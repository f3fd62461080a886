"""MixVisionTransformer (MiT) encoder: four stages built in a loop from a :class:`MiTSpec`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ..variants import MIT_VARIANTS, MiTSpec, backbone_name, get_variant
from .layers import BLOCK_NORM_EPS, Block, OverlapPatchEmbed, init_weights, tokens_to_map

if TYPE_CHECKING:
    from ..weights.load_report import LoadReport

# Smallest input side: stage 1 runs at 1/4 and its key/value map is shrunk 8x more.
MIN_INPUT_SIZE = 32


class MixVisionTransformer(nn.Layer):
    """Hierarchical encoder. (B, in_channels, H, W) -> 4 maps at strides 4, 8, 16, 32.

    State-dict keys follow the article's code: ``patch_embed{i}``, ``block{i}.{j}``, ``norm{i}``.
    ``pretrained`` (a path or URL in any format :mod:`paddle_segformer.weights` reads; ``none`` for none) loads
    strictly unless ``pretrained_strict`` is False; a checkpoint made for another band count is adapted with the
    ``band_adapt`` strategy (:mod:`paddle_segformer.weights.bands`). What the load did, and from where, is
    ``pretrained_report`` (None without weights).
    """

    def __init__(self, embed_dims: Sequence[int] = MIT_VARIANTS["b0"].embed_dims,
                 depths: Sequence[int] = MIT_VARIANTS["b0"].depths,
                 num_heads: Sequence[int] = (1, 2, 5, 8), sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 mlp_ratios: Sequence[float] = (4, 4, 4, 4), in_channels: int = 3,
                 qkv_bias: bool = True, qk_scale: Optional[float] = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 patch_sizes: Sequence[int] = (7, 3, 3, 3), strides: Sequence[int] = (4, 2, 2, 2),
                 decoder_dim: Optional[int] = None, pretrained: Optional[str] = None,
                 pretrained_strict: bool = True, band_adapt: str = "rgb_mean"):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.depths = list(depths)
        self.feat_channels = list(embed_dims)
        self.decoder_dim = decoder_dim  # preferred all-MLP decoder width of this variant
        self.pretrained = pretrained
        # Creation order (all patch embeddings, then block/norm per stage) matches the article's
        # code so that automatically generated parameter names line up too.
        prev = in_channels
        for i in range(4):
            setattr(self, f"patch_embed{i + 1}",
                    OverlapPatchEmbed(prev, embed_dims[i], patch_sizes[i], strides[i]))
            prev = embed_dims[i]
        rates = np.linspace(0.0, drop_path_rate, sum(depths)).tolist()  # rises linearly over all blocks
        start = 0
        for i in range(4):
            blocks = [Block(embed_dims[i], num_heads[i], sr_ratios[i], mlp_ratios[i], qkv_bias, qk_scale,
                            drop_rate, attn_drop_rate, rates[start + j]) for j in range(depths[i])]
            setattr(self, f"block{i + 1}", nn.LayerList(blocks))
            setattr(self, f"norm{i + 1}", nn.LayerNorm(embed_dims[i], epsilon=BLOCK_NORM_EPS))
            start += depths[i]
        self.apply(init_weights)
        self.pretrained_report = load_pretrained_into(self, pretrained, "backbone", pretrained_strict, band_adapt)

    @classmethod
    def from_spec(cls, spec: MiTSpec, **kwargs) -> "MixVisionTransformer":
        """Build from a variant spec; ``kwargs`` override (e.g. ``in_channels``)."""
        return cls(embed_dims=spec.embed_dims, depths=spec.depths, num_heads=spec.num_heads,
                   sr_ratios=spec.sr_ratios, mlp_ratios=spec.mlp_ratios, patch_sizes=spec.patch_sizes,
                   strides=spec.strides, decoder_dim=spec.decoder_dim, **kwargs)

    def stage(self, i: int) -> Tuple[OverlapPatchEmbed, nn.LayerList, nn.LayerNorm]:
        """(patch_embed, blocks, norm) of stage ``i`` in 0..3."""
        return (getattr(self, f"patch_embed{i + 1}"), getattr(self, f"block{i + 1}"),
                getattr(self, f"norm{i + 1}"))

    def forward(self, x: paddle.Tensor) -> List[paddle.Tensor]:
        """(B, C_in, H, W) -> [(B, C_i, H_i, W_i)] for strides 4, 8, 16, 32 (ceil division)."""
        if isinstance(x.shape[-1], int) and 0 < min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"input of size {list(x.shape[-2:])} is too small for MiT: "
                             f"each side must be >= {MIN_INPUT_SIZE} pixels")
        outs = []
        for i in range(4):
            embed, blocks, norm = self.stage(i)
            x, h, w = embed(x)
            for blk in blocks:
                x = blk(x, h, w)
            x = tokens_to_map(norm(x), h, w)
            outs.append(x)
        return outs


def load_pretrained_into(layer: nn.Layer, pretrained: Optional[str], what: str, strict: bool,
                         band_adapt: str) -> Optional["LoadReport"]:
    """Load ``pretrained`` into ``layer`` (``what``: backbone or model); None when it names no weights."""
    from ..weights.loading import load_pretrained
    from ..weights.pretrained_cache import no_weights

    if no_weights(pretrained):
        return None
    return load_pretrained(layer, pretrained, what=what, strict=strict, band_adapt=band_adapt)


def mit(variant: str, **kwargs) -> MixVisionTransformer:
    """Build a MiT variant by name ('b0'..'b5'); ``kwargs`` go to :class:`MixVisionTransformer`."""
    return MixVisionTransformer.from_spec(get_variant(variant), **kwargs)


def _variant_factory(key: str) -> Callable[..., MixVisionTransformer]:
    def factory(**kwargs) -> MixVisionTransformer:
        return mit(key, **kwargs)

    factory.__name__ = factory.__qualname__ = backbone_name(key)
    factory.__doc__ = f"MiT-{key.upper()} encoder ({get_variant(key)}); kwargs as MixVisionTransformer."
    return factory


# PaddleSeg registry names -> factories, generated from the variant table.
VARIANT_FACTORIES = {backbone_name(key): _variant_factory(key) for key in MIT_VARIANTS}
