"""Configs into models and datasets: PaddleSeg's ``Config`` + ``SegBuilder`` with this package's components
registered, configs found by name, dataset facts written once (in the dataset block), and errors that
name the config file (:class:`ConfigError`)."""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Tuple


class ConfigError(ValueError):
    """A config file that cannot be loaded or built; the message names the file."""


class _WithoutCopyAdvice:
    """PaddleSeg's logger as its builder uses it, minus the advice to copy the dataset's facts
    (num_classes, in_channels, ignore_index) into the model and loss configs: this package writes each
    fact once, in the dataset, on purpose (the builder still copies them; only the advice goes)."""

    ADVICE = "Add the `"

    def __init__(self, paddleseg_logger: Any):
        self._logger = paddleseg_logger

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        if not str(message).startswith(self.ADVICE):
            self._logger.warning(message, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


@functools.lru_cache(maxsize=None)
def _builder_class():
    """PaddleSeg's SegBuilder (the subclass is made once), taught about datasets whose facts live in their config block."""
    from functools import cached_property

    from paddleseg.cvlibs import SegBuilder, builder

    if not isinstance(builder.logger, _WithoutCopyAdvice):
        builder.logger = _WithoutCopyAdvice(builder.logger)

    def configured(cls: Any, cfg: Dict[str, Any]) -> Any:
        with_facts = getattr(cls, "with_config_facts", None)  # SegListDataset's: facts from the config block
        if with_facts is None:
            return cls
        try:
            return with_facts(cfg)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    class SegFormerBuilder(SegBuilder):
        def __init__(self, config: Any, comp_list: Optional[list] = None):
            super().__init__(config, comp_list)
            train, val = config.dic.get("train_dataset") or {}, config.dic.get("val_dataset") or {}
            if train and val and train.get("type") == val.get("type") and getattr(
                    self.load_component_class(train.get("type")), "CONFIG_DRIVEN", False):
                for key in ("num_classes", "img_channels", "ignore_index"):  # written once, in train_dataset
                    if key in train:
                        val.setdefault(key, train[key])

        def _dataset_class(self, cfg: Dict[str, Any]) -> Any:
            if not cfg:
                raise ConfigError("the config has no dataset block")
            return configured(self.load_component_class(cfg.get("type")), cfg)

        @cached_property
        def lr_scheduler(self) -> Any:
            from .schedule import fill_cosine_period

            fill_cosine_period(self.config.dic.get("lr_scheduler"), self.config.iters)
            return super().lr_scheduler

        @cached_property
        def train_dataset_class(self) -> Any:
            return self._dataset_class(self.config.train_dataset_cfg)

        @cached_property
        def val_dataset_class(self) -> Any:
            return self._dataset_class(self.config.val_dataset_cfg)

    return SegFormerBuilder


def load_config(path: str, learning_rate: Optional[float] = None, batch_size: Optional[int] = None,
                iters: Optional[int] = None, opts: Optional[List[str]] = None) -> Tuple[Any, Any]:
    """Register our components, then parse ``path`` with PaddleSeg's Config; returns (cfg, builder).

    A ``path`` that is not a file is looked up as a config name under ``configs/`` (see config_lookup).
    """
    import paddle_segformer
    from paddleseg.cvlibs import Config

    from .config_lookup import resolve_config

    path = resolve_config(path)
    import yaml

    from .registry import RegistryConflict

    try:
        paddle_segformer.register()
    except RegistryConflict as exc:
        raise ConfigError(f"cannot register paddle_segformer with PaddleSeg: {exc}") from exc
    try:
        cfg = Config(path, learning_rate=learning_rate, batch_size=batch_size, iters=iters, opts=opts)
    except (AssertionError, KeyError, TypeError, ValueError, OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: invalid config: {exc}") from exc
    return cfg, _builder_class()(cfg)


def build(builder: Any, what: str, path: str) -> Any:
    """``builder.<what>`` with the config path in any error (unknown type, bad arguments); a data file
    that fails the dataset's check is reported as itself (its message names the file)."""
    from .io.image import ImageReadError

    try:
        return getattr(builder, what)
    except (RuntimeError, AssertionError, KeyError) as exc:
        cause = exc.__cause__ or exc.__context__  # PaddleSeg's builder re-raises as RuntimeError
        if isinstance(cause, ImageReadError):
            raise cause from None
        raise ConfigError(f"{path}: cannot build {what}: {exc}") from exc
