"""What a set of SegFormer weights is, read from its shapes alone: the MiT variant (stage depths and widths),
the band count, the class count. Used to say what a checkpoint holds when it does not fit a model, and by
the caller to name the config that would fit it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from ..variants import MIT_VARIANTS


@dataclass(frozen=True)
class WeightFacts:
    """A state dict's architecture: ``variant`` (b0..b5, None when its depths / widths match none),
    ``depths`` and ``widths`` of the four stages, ``in_channels`` (bands), ``num_classes`` (None for a
    backbone without a head)."""

    variant: Optional[str]
    depths: Tuple[int, ...]
    widths: Tuple[int, ...]
    in_channels: int
    num_classes: Optional[int]

    def __str__(self) -> str:
        name = f"MiT-{self.variant.upper()}" if self.variant else "an unknown MiT variant"
        stages = f"depths {'-'.join(map(str, self.depths))}, widths {'-'.join(map(str, self.widths))}"
        head = f"{self.num_classes} classes" if self.num_classes is not None else "no decoder (backbone only)"
        return f"{name} ({stages}), {self.in_channels} bands, {head}"


def _backbone_prefix(state: Mapping[str, object]) -> Optional[str]:
    for prefix in ("backbone.", ""):
        if f"{prefix}patch_embed1.proj.weight" in state:
            return prefix
    return None


def weight_facts(state: Mapping[str, object]) -> Optional[WeightFacts]:
    """The facts of a state dict in our keys (a whole model's ``backbone.*`` + head, or a backbone's own
    keys); None when it holds no MiT patch embeddings."""
    prefix = _backbone_prefix(state)
    if prefix is None:
        return None
    try:
        widths = tuple(int(state[f"{prefix}patch_embed{i}.proj.weight"].shape[0]) for i in range(1, 5))
    except KeyError:
        return None
    depths = tuple(len({k[len(prefix):].split(".")[1] for k in state if k.startswith(f"{prefix}block{i}.")})
                   for i in range(1, 5))
    matches = [k for k, spec in MIT_VARIANTS.items() if spec.embed_dims == widths and spec.depths == depths]
    pred = state.get("linear_pred.weight")  # a 1x1 conv: (classes, decoder width, 1, 1)
    return WeightFacts(matches[0] if matches else None, depths, widths,
                       int(state[f"{prefix}patch_embed1.proj.weight"].shape[1]),
                       None if pred is None else int(pred.shape[0]))
