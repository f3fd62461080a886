"""PaddleSeg 2.4-2.7's model-level types ``SegFormer_B0..B5``, building this implementation.

There, ``SegFormer_B3(num_classes=4, pretrained=...)`` built ``MixVisionTransformer_B3`` with the
variant's decoder width and loaded ``pretrained`` into the whole model. Here the width comes from the
variant table and ``pretrained`` may be a whole-model checkpoint (it holds decoder weights) or a
backbone one (ImageNet MiT weights, with or without a ``backbone.`` prefix), loaded strictly into
the part it belongs to.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

from ..variants import MIT_VARIANTS, get_variant, model_name
from .backbone import mit
from .segformer import SegFormer


def segformer_variant(variant: str, num_classes: int, pretrained: Optional[str] = None, in_channels: int = 3,
                      pretrained_strict: bool = True, band_adapt: str = "rgb_mean", **kwargs) -> SegFormer:
    """SegFormer with the ``variant`` ('b0'..'b5') encoder; ``kwargs`` go to :class:`SegFormer`."""
    from ..weights.loading import pretrained_target
    from ..weights.pretrained_cache import no_weights

    backbone_kwargs = {"in_channels": in_channels}
    model_pretrained = None
    if not no_weights(pretrained):
        if pretrained_target(pretrained) == "model":
            model_pretrained = pretrained
        else:
            backbone_kwargs.update(pretrained=pretrained, pretrained_strict=pretrained_strict, band_adapt=band_adapt)
    return SegFormer(num_classes, mit(variant, **backbone_kwargs), pretrained=model_pretrained,
                     pretrained_strict=pretrained_strict, band_adapt=band_adapt, **kwargs)


def _factory(key: str) -> Callable[..., SegFormer]:
    def factory(num_classes: int, **kwargs) -> SegFormer:
        return segformer_variant(key, num_classes, **kwargs)

    factory.__name__ = factory.__qualname__ = model_name(key)
    factory.__doc__ = (f"SegFormer-{key.upper()} (decoder width {get_variant(key).decoder_dim}); "
                       "kwargs as segformer_variant.")
    return factory


# PaddleSeg registry names -> factories, generated from the variant table.
MODEL_FACTORIES: Dict[str, Callable[..., SegFormer]] = {model_name(k): _factory(k) for k in MIT_VARIANTS}
