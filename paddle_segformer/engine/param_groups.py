"""SegFormer's upstream optimiser options as config switches (``optimizer: {type: SegFormerAdamW, ...}``).

The official recipe (mmsegmentation's ``paramwise_cfg``) trains the decoder head with a 10x learning rate
and applies no weight decay to normalisation layers. PaddleSeg's ``custom_cfg`` gives each parameter to
the first group whose name is a substring of the parameter's name, one learning rate and one decay per
group, so "head x10" and "no decay on norms and biases" cannot both hold for the head's norms and
biases; here the learning rate comes from the groups and the decay from AdamW's
``apply_decay_param_fun``, independently.
"""
from __future__ import annotations

import logging
from typing import List, Set, Tuple

import paddle
from paddleseg.optimizers.optimizer import AdamW  # the package re-exports paddle.optimizer.AdamW under this name

logger = logging.getLogger(__name__)

NORM_LAYERS = (paddle.nn.LayerNorm, paddle.nn.BatchNorm, paddle.nn.BatchNorm1D, paddle.nn.BatchNorm2D,
               paddle.nn.BatchNorm3D, paddle.nn.SyncBatchNorm, paddle.nn.GroupNorm)


def split_head(model: paddle.nn.Layer) -> Tuple[List[paddle.Tensor], List[paddle.Tensor]]:
    """(encoder parameters, everything else = the decoder head), trainable ones only."""
    encoder = {id(p) for p in model.backbone.parameters()}
    params = [p for p in model.parameters() if not p.stop_gradient]
    return [p for p in params if id(p) in encoder], [p for p in params if id(p) not in encoder]


def undecayed_names(model: paddle.nn.Layer) -> Set[str]:
    """``param.name`` of every normalisation-layer parameter and every bias."""
    names = {p.name for layer in model.sublayers() if isinstance(layer, NORM_LAYERS) for p in layer.parameters()}
    names |= {p.name for key, p in model.named_parameters() if key.rsplit(".", 1)[-1] == "bias"}
    return names


class SegFormerAdamW(AdamW):
    """PaddleSeg's ``AdamW`` plus ``head_lr_mult`` (learning-rate factor of every parameter outside
    ``model.backbone``) and ``decay_norms_and_biases`` (False: no weight decay on them)."""

    def __init__(self, head_lr_mult: float = 1.0, decay_norms_and_biases: bool = True, **kwargs):
        if kwargs.get("custom_cfg"):
            raise ValueError("SegFormerAdamW: set head_lr_mult / decay_norms_and_biases instead of custom_cfg")
        super().__init__(**kwargs)
        self.head_lr_mult = float(head_lr_mult)
        self.decay_norms_and_biases = bool(decay_norms_and_biases)

    def __call__(self, model: paddle.nn.Layer, lr: paddle.optimizer.lr.LRScheduler) -> paddle.optimizer.AdamW:
        encoder, head = split_head(model)
        skip = set() if self.decay_norms_and_biases else undecayed_names(model)
        logger.info("optimizer: AdamW, %d encoder parameters at 1x, %d head parameters at %gx the learning rate; "
                    "%s", len(encoder), len(head), self.head_lr_mult,
                    "weight decay on all" if not skip else f"no weight decay on {len(skip)} norm / bias parameters")
        groups = [{"params": encoder}, {"params": head, "learning_rate": self.head_lr_mult}]
        return paddle.optimizer.AdamW(learning_rate=lr, parameters=groups,
                                      apply_decay_param_fun=(lambda name: name not in skip) if skip else None,
                                      **self.args)
