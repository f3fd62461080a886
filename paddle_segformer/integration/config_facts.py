"""Which config fits a checkpoint: the MiT variant, class count and band count a config describes, compared
with what a checkpoint holds (:class:`~paddle_segformer.weights.facts.WeightFacts`), so that a checkpoint that
does not fit the config it was given is refused with the name of the one it fits."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from ..variants import variant_key
from ..weights.facts import WeightFacts
from ..weights.rules import CheckpointError
from .builder import ConfigError
from .config import config_roots, configs_under, short_path

logger = logging.getLogger(__name__)

# what reading one config can raise (PaddleSeg's reader asserts, yaml, missing files)
_UNREADABLE = (AssertionError, KeyError, TypeError, ValueError, OSError, yaml.YAMLError)


def _variant_of(model: Dict[str, Any]) -> Optional[str]:
    for name in ((model.get("backbone") or {}).get("type"), model.get("type")):
        try:
            return variant_key(str(name))
        except KeyError:
            continue
    return None


def config_facts(path: str) -> Optional[Tuple[str, Optional[int], int]]:
    """(variant, num_classes, bands) of the model a config builds (its ``_base_`` chain read as PaddleSeg
    reads it); None for a config whose model is not a SegFormer of the variant table."""
    from paddleseg.cvlibs import Config, manager

    dic = Config._parse_from_yaml(path)
    model = dic.get("model") or {}
    variant = _variant_of(model)
    if variant is None:
        return None
    data = dic.get("train_dataset") or {}
    cls = manager.DATASETS.components_dict.get(data.get("type"))
    classes = model.get("num_classes", data.get("num_classes", getattr(cls, "NUM_CLASSES", None)))
    bands = data.get("img_channels", getattr(cls, "IMG_CHANNELS", None) or 3)
    return variant, classes, int(bands)


def configs_fitting(held: WeightFacts) -> List[str]:
    """The configs (under ``./configs`` and the project's ``configs/``) whose model the weights ``held``
    fit: same variant and bands, and the same class count when the weights have a head."""
    from .registry import register

    register()
    fitting = []
    for root in config_roots():
        for path in configs_under(root):
            try:
                facts = config_facts(str(path))
            except _UNREADABLE as exc:
                logger.debug("%s: not read while looking for a config that fits (%s)", path, exc)
                continue
            if facts and facts[0] == held.variant and facts[2] == held.in_channels and (
                    held.num_classes is None or facts[1] == held.num_classes):
                fitting.append(short_path(Path(path)))
    return fitting


def naming_the_fitting_config(error: CheckpointError) -> CheckpointError:
    """``error`` with the configs its checkpoint fits named (or the absence of one said), for a checkpoint
    refused by a model built from another config."""
    held = error.held
    if not isinstance(held, WeightFacts) or held.variant is None or error.wanted is None:
        return error
    fitting = configs_fitting(held)
    hint = (f"configs that fit this checkpoint: {', '.join(fitting)}" if fitting else
            f"no config under configs/ fits this checkpoint ({held}): write one with "
            f"model.backbone.type MixVisionTransformer_{held.variant.upper()}")
    lines = str(error).split("\n", 1)
    return CheckpointError("\n".join([lines[0], hint] + lines[1:]), held=held, wanted=error.wanted)


def pretrained_url(variant: str) -> str:
    """The URL of a variant's ImageNet encoder weights, as its config base names it
    (``configs/_base_/mit_b3.yml``: ``model.backbone.pretrained``; ``./configs`` first, then the project's)."""
    key = variant_key(variant)
    for root in config_roots():
        path = root / "_base_" / f"mit_{key}.yml"
        if path.is_file():
            backbone = ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("model") or {}).get("backbone")
            url = (backbone or {}).get("pretrained")
            if url:
                return str(url)
    raise ConfigError(f"no configs/_base_/mit_{key}.yml names the ImageNet weights of MiT-{key.upper()} "
                      "(model.backbone.pretrained)")
