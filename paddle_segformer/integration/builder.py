"""PaddleSeg's ``SegBuilder`` as this package reads configs, patched in one place when ``register()`` runs.

The package's tools (``load_config``) and a PaddleSeg user writing ``SegBuilder(Config(path))`` get the same
builder: :data:`PATCHES` lists everything changed on the class, each with its reason, and :func:`patch` applies
them once (the replaced attributes are kept in :data:`ORIGINALS`).

- ``__init__``: dataset facts are written once, in ``train_dataset``: a ``val_dataset`` block of the same
  config-driven type (``GeoTiffDataset``) takes ``num_classes`` / ``img_channels`` / ``ignore_index`` from it.
- ``train_dataset_class`` / ``val_dataset_class``: ``SegBuilder.model`` / ``.loss`` read the class count, band
  count and ignore index from the train dataset's class; a config-driven type gets them from its config block.
- ``lr_scheduler``: ``PolynomialDecay`` gets PaddleSeg 2.4-2.7's defaults ``end_lr: 0`` and ``power: 0.9``
  (2.8 leaves Paddle's ``end_lr=1e-4``, so 6e-5 climbs to 1e-4), and a ``CosineAnnealingDecay`` without
  ``T_max`` runs over the iterations after its warm-up.
- the builder module's ``logger``: without the advice to copy the dataset's facts into the model and loss
  configs (this package writes each fact once, in the dataset, on purpose; the builder still copies them).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Dict, Optional

logger = logging.getLogger("paddle_segformer")

DATASET_FACTS = ("num_classes", "img_channels", "ignore_index")


class ConfigError(ValueError):
    """A config file that cannot be loaded or built; the message names the file."""


class _WithoutCopyAdvice:
    """PaddleSeg's logger as its builder uses it, minus the advice to copy the dataset's facts
    (num_classes, in_channels, ignore_index) into the model and loss configs."""

    ADVICE = "Add the `"

    def __init__(self, paddleseg_logger: Any):
        self._logger = paddleseg_logger

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        if not str(message).startswith(self.ADVICE):
            self._logger.warning(message, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def _cached(name: str, fn: Callable[[Any], Any]) -> Any:
    """``fn`` as one of PaddleSeg's ``CachedProperty`` (which caches under the function's name)."""
    from paddleseg.utils.utils import CachedProperty

    fn.__name__ = fn.__qualname__ = name
    return CachedProperty(fn)


def _sharing_dataset_facts(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, config: Any, comp_list: Optional[list] = None) -> None:
        original(self, config, comp_list)
        train, val = config.dic.get("train_dataset") or {}, config.dic.get("val_dataset") or {}
        if not (train and val and train.get("type") == val.get("type")):
            return
        with contextlib.suppress(RuntimeError):  # an unknown type is reported when it is built
            if getattr(self.load_component_class(train.get("type")), "CONFIG_DRIVEN", False):
                for key in DATASET_FACTS:
                    if key in train:
                        val.setdefault(key, train[key])

    return __init__


def _with_config_facts(cls: Any, cfg: Dict[str, Any]) -> Any:
    with_facts = getattr(cls, "with_config_facts", None)  # SegListDataset's: facts from the config block
    if with_facts is None:
        return cls
    try:
        return with_facts(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _dataset_class(which: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def dataset_class(self: Any) -> Any:
            return _with_config_facts(original.func(self), getattr(self.config, f"{which}_dataset_cfg"))

        return _cached(f"{which}_dataset_class", dataset_class)

    return make


def _schedule_filled(original: Any) -> Any:
    def lr_scheduler(self: Any) -> Any:
        from ..engine.schedule import fill_cosine_period
        from .legacy_config import fill_poly_defaults

        lr_cfg = self.config.dic.get("lr_scheduler")
        fill_cosine_period(lr_cfg, self.config.iters)
        filled = fill_poly_defaults(lr_cfg)
        if filled:
            logger.info("lr_scheduler PolynomialDecay: %s not set, using PaddleSeg 2.4-2.7's default%s %s",
                        " and ".join(filled), "s" if len(filled) > 1 else "",
                        ", ".join(f"{k}={v}" for k, v in filled.items()))
        return original.func(self)

    return _cached("lr_scheduler", lr_scheduler)


# SegBuilder attribute -> (the original -> its replacement)
PATCHES: Dict[str, Callable[[Any], Any]] = {
    "__init__": _sharing_dataset_facts,
    "train_dataset_class": _dataset_class("train"),
    "val_dataset_class": _dataset_class("val"),
    "lr_scheduler": _schedule_filled,
}
ORIGINALS: Dict[str, Any] = {}  # what each patch replaced ("logger": the builder module's logger)


def patch() -> bool:
    """Apply :data:`PATCHES` to ``paddleseg.cvlibs.SegBuilder`` and quiet the builder's copy advice (once);
    True when this call patched."""
    from paddleseg.cvlibs import SegBuilder, builder

    if ORIGINALS:
        return False
    for name, make in PATCHES.items():
        ORIGINALS[name] = SegBuilder.__dict__[name]
        setattr(SegBuilder, name, make(ORIGINALS[name]))
    ORIGINALS["logger"] = builder.logger
    builder.logger = _WithoutCopyAdvice(builder.logger)
    logger.debug("PaddleSeg's SegBuilder patched: %s", ", ".join(PATCHES))
    return True
