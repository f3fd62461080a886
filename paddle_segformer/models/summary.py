"""What a SegFormer is made of, as tables: parameters per variant, and per stage the feature-map shape and
the query / key-value sequence lengths of efficient self-attention, measured on one forward pass."""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import paddle

from ..variants import MIT_VARIANTS, PAPER_PARAMS_M
from .backbone import mit
from .segformer import SegFormer


def parameter_counts(variant: str, num_classes: int = 150, in_channels: int = 3) -> Tuple[int, int]:
    """(encoder, decoder) trainable parameters of ``SegFormer(num_classes, mit(variant))``; BatchNorm
    running statistics are not counted. Built under ``paddle.LazyGuard``: shapes only, no weights drawn
    (B5 in well under a second instead of several)."""
    with paddle.LazyGuard():
        model = SegFormer(num_classes, mit(variant, in_channels=in_channels))
    sizes = [(name, int(np.prod(p.shape))) for name, p in model.named_parameters() if not p.stop_gradient]
    encoder = sum(n for name, n in sizes if name.startswith("backbone."))
    return encoder, sum(n for _, n in sizes) - encoder


def parameter_table(num_classes: int = 150) -> List[Dict[str, object]]:
    """One row per variant B0..B5: encoder / decoder parameters (M) and the paper's rounded numbers."""
    rows = []
    for key in MIT_VARIANTS:
        enc, dec = parameter_counts(key, num_classes)
        rows.append({"variant": f"MiT-{key.upper()}", "encoder (M)": round(enc / 1e6, 3),
                     "decoder (M)": round(dec / 1e6, 3), "paper (M)": "%s / %s" % PAPER_PARAMS_M[key]})
    return rows


def stage_table(model: SegFormer, height: int = 256, width: int = 256) -> List[Dict[str, object]]:
    """Per encoder stage for one (1, C, height, width) input: the feature map's shape (1, C_i, H_i, W_i), the
    attention's query length H_i * W_i and key / value length after spatial reduction, read from the
    tensors entering each stage's first ``attn.kv`` projection during a real forward pass."""
    backbone = model.backbone
    kv_lengths: Dict[int, int] = {}
    hooks = []
    for i in range(4):
        attn = backbone.stage(i)[1][0].attn

        def record(layer, inputs, output, stage=i):
            kv_lengths[stage] = int(inputs[0].shape[1])

        hooks.append(attn.kv.register_forward_post_hook(record))
    was_training = backbone.training
    backbone.eval()
    try:
        with paddle.no_grad():
            feats = backbone(paddle.zeros([1, backbone.in_channels, height, width]))
    finally:
        for hook in hooks:
            hook.remove()
        if was_training:
            backbone.train()
    rows = []
    for i, feat in enumerate(feats):
        queries = int(feat.shape[2] * feat.shape[3])
        sr = backbone.stage(i)[1][0].attn.sr_ratio
        rows.append({"stage": i + 1, "feature map": tuple(int(s) for s in feat.shape), "sr ratio": sr,
                     "query length": queries, "key/value length": kv_lengths[i],
                     "reduction": f"{queries / kv_lengths[i]:.0f}x"})
    return rows

