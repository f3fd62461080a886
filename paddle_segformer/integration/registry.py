"""Explicit, idempotent registration into PaddleSeg's component managers.

Every name we add is listed in :func:`components`. A name already taken is replaced only if it
is PaddleSeg's own built-in and listed in ``TAKES_OVER``; anything else raises
:class:`RegistryConflict` instead of being overwritten. What changed is logged once.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Tuple

from paddleseg.cvlibs import manager

from ..variants import MIT_VARIANTS, backbone_name, model_name

logger = logging.getLogger(__name__)

# PaddleSeg built-ins this package deliberately serves instead (same YAML, our implementation);
# SegFormer_B0..B5 are built-ins of PaddleSeg 2.4-2.7 only; DiceLoss: the same loss without writing into
# the caller's labels (paddle_segformer/models/losses.py).
TAKES_OVER = frozenset({("models", "SegFormer"), ("losses", "DiceLoss")}
                       | {("backbones", backbone_name(k)) for k in MIT_VARIANTS}
                       | {("models", model_name(k)) for k in MIT_VARIANTS})

# (manager name, component name) -> what was there before we registered (None: nothing).
_previous: Dict[Tuple[str, str], Any] = {}


class RegistryConflict(RuntimeError):
    """A name we need is held by something that is neither ours nor a PaddleSeg built-in we replace."""


def components() -> List[Tuple[manager.ComponentManager, str, Any]]:
    """(manager, name, object) for everything this package registers."""
    from ..data.cityscapes import CityscapesDataset
    from ..data.dataset import RSParcelDataset
    from ..data.geotiff import GeoTiffDataset
    from ..data.transforms import BandNormalize, BandRandomPaddingCrop
    from ..engine.param_groups import SegFormerAdamW
    from ..models.backbone import VARIANT_FACTORIES, MixVisionTransformer
    from ..models.factories import MODEL_FACTORIES
    from ..models.losses import DiceLoss
    from ..models.segformer import SegFormer

    items = [(manager.MODELS, "SegFormer", SegFormer),
             (manager.BACKBONES, "MixVisionTransformer", MixVisionTransformer)]
    items += [(manager.BACKBONES, name, fn) for name, fn in VARIANT_FACTORIES.items()]
    # PaddleSeg 2.4-2.7's model-level types (2.8 dropped them).
    items += [(manager.MODELS, name, fn) for name, fn in MODEL_FACTORIES.items()]
    # Datasets whose class carries NUM_CLASSES / IMG_CHANNELS / IGNORE_INDEX, as SegBuilder requires.
    items.append((manager.DATASETS, "RSParcelDataset", RSParcelDataset))
    items.append((manager.DATASETS, "CityscapesDataset", CityscapesDataset))
    # Datasets whose facts come from their config (the entry points' builder hands them over).
    items.append((manager.DATASETS, "GeoTiffDataset", GeoTiffDataset))
    items += [(manager.TRANSFORMS, cls.__name__, cls) for cls in (BandNormalize, BandRandomPaddingCrop)]
    items.append((manager.LOSSES, "DiceLoss", DiceLoss))
    items.append((manager.OPTIMIZERS, "SegFormerAdamW", SegFormerAdamW))
    return items


def _is_paddleseg_builtin(obj: Any) -> bool:
    return getattr(obj, "__module__", "").startswith("paddleseg.")


def register() -> Dict[str, List[str]]:
    """Put our components into PaddleSeg's managers. Safe to call many times.

    Returns ``{"added": [...], "replaced": [...]}`` for this call (empty when already registered).
    """
    from ..models.losses import install_fast_cross_entropy
    from . import builder, compat

    compat.apply()  # training through paddleseg.core needs these on Paddle 3.x
    builder.patch()  # SegBuilder reads dataset facts from the config block, 2.4-2.7's schedule defaults
    install_fast_cross_entropy()  # CrossEntropyLoss on CPU: the compiled kernel (same numbers)
    plan = []
    for mgr, name, obj in components():
        current = mgr.components_dict.get(name)
        if current is obj:
            continue
        key = (mgr.name, name)
        if current is not None and not (key in TAKES_OVER and _is_paddleseg_builtin(current)):
            raise RegistryConflict(
                f"{mgr.name}.{name} is already registered as {getattr(current, '__module__', '?')}."
                f"{getattr(current, '__qualname__', current)!r}; paddle_segformer will not replace it")
        plan.append((mgr, name, obj, current))
    changes: Dict[str, List[str]] = {"added": [], "replaced": []}
    for mgr, name, obj, current in plan:  # only mutate once every name is known to be free
        _previous.setdefault((mgr.name, name), current)
        mgr.components_dict[name] = obj
        changes["replaced" if current is not None else "added"].append(f"{mgr.name}.{name}")
    if plan:
        logger.info("paddle_segformer registered with PaddleSeg: added %s; replaced PaddleSeg built-ins %s",
                    ", ".join(changes["added"]) or "-", ", ".join(changes["replaced"]) or "-")
    return changes


def unregister() -> None:
    """Restore every name to what it was before :func:`register`."""
    from ..models.losses import uninstall_fast_cross_entropy

    uninstall_fast_cross_entropy()
    managers = {m.name: m for m in (manager.MODELS, manager.BACKBONES, manager.DATASETS, manager.TRANSFORMS,
                                    manager.LOSSES, manager.OPTIMIZERS)}
    for (mgr_name, name), before in list(_previous.items()):
        table = managers[mgr_name].components_dict
        if before is None:
            table.pop(name, None)
        else:
            table[name] = before
        del _previous[(mgr_name, name)]


def is_registered() -> bool:
    """True when every component of this package is the one PaddleSeg would build."""
    return all(mgr.components_dict.get(name) is obj for mgr, name, obj in components())
