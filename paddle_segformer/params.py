"""Trainable parameter counts of a SegFormer variant, split into encoder and decoder."""
from __future__ import annotations

from typing import Tuple

import numpy as np


def parameter_counts(variant: str, num_classes: int = 150, in_channels: int = 3) -> Tuple[int, int]:
    """(encoder, decoder) trainable parameters of ``SegFormer(num_classes, mit(variant))``; BatchNorm
    running statistics are not counted. Built under ``paddle.LazyGuard``: shapes only, no weights drawn."""
    import paddle

    from .backbone import mit
    from .model import SegFormer

    with paddle.LazyGuard():
        model = SegFormer(num_classes, mit(variant, in_channels=in_channels))
    sizes = [(name, int(np.prod(p.shape))) for name, p in model.named_parameters() if not p.stop_gradient]
    encoder = sum(n for name, n in sizes if name.startswith("backbone."))
    return encoder, sum(n for _, n in sizes) - encoder
