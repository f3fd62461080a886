"""Configs into models and datasets: PaddleSeg's ``Config`` + ``SegBuilder`` with this package's components
registered (and the builder patched: :mod:`paddle_segformer.integration.builder`), configs found by name, and
errors that name the config file (:class:`ConfigError`).

``--config NAME``: a value that is not a file is looked up as a config name under ``configs/``. The
article runs ``python train.py --config segformerb3.yml`` from the project root, where the file lives in
``configs/``. Folders searched: ``./configs`` then the project's own ``configs/`` beside the package;
``segformerb3``, ``segformerb3.yml`` and ``geotiff/segformer_b0_rgbn.yml`` all work.
"""
from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .builder import ConfigError

logger = logging.getLogger("paddle_segformer")


# ---- configs found by name ----

SUFFIXES = (".yml", ".yaml")


def config_roots() -> List[Path]:
    """Existing ``configs`` folders to search: the working directory's, then the project's."""
    roots = [Path.cwd() / "configs", Path(__file__).resolve().parents[2] / "configs"]
    unique: List[Path] = []
    for root in roots:
        if root.is_dir() and root.resolve() not in [r.resolve() for r in unique]:
            unique.append(root)
    return unique


def configs_under(root: Path) -> List[Path]:
    """The leaf configs under a ``configs`` folder (``_base_`` left out), sorted."""
    return sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and "_base_" not in p.relative_to(root).parts)


def _candidates(name: str) -> List[str]:
    return [name] if name.endswith(SUFFIXES) else [name + s for s in SUFFIXES]


def short_path(path: Path) -> str:
    """``path`` relative to the working directory where it can be."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def resolve_config(path: str) -> str:
    """``path`` if it is a file; else the one config it names under a ``configs`` folder.

    Raises :class:`ConfigError` naming the closest config names when there is none, or the
    candidates when the name is ambiguous.
    """
    if path and os.path.isfile(path):
        return path
    if not path:
        raise ConfigError("config file not found: no --config given")
    roots = config_roots()
    for root in roots:
        for candidate in _candidates(path):  # a path relative to configs/ (geotiff/x.yml)
            if (root / candidate).is_file():
                return _found(path, root / candidate)
    names = _candidates(Path(path).name)
    for root in roots:
        matches = [p for p in configs_under(root) if p.name in names]
        if len(matches) > 1:
            raise ConfigError(f"config file not found: {path}; several configs under {short_path(root)}/ have that "
                              f"name: {', '.join(short_path(m) for m in matches)}")
        if matches:
            return _found(path, matches[0])
    raise ConfigError(f"config file not found: {path}{_closest(Path(path).name, roots)}")


def _found(name: str, path: Path) -> str:
    shown = short_path(path)
    logger.info("config %s: using %s", name, shown)
    return shown


def _closest(name: str, roots: List[Path]) -> str:
    if not roots:
        return " (and there is no configs/ folder here to look it up in)"
    known = sorted({short_path(p) for root in roots for p in configs_under(root)})
    by_stem = {}
    for path in known:
        by_stem.setdefault(Path(path).stem, []).append(path)
    ranked = difflib.get_close_matches(Path(name).stem, list(by_stem), n=5, cutoff=0.6)  # best first
    close = [path for stem in ranked for path in by_stem[stem]]
    if close:
        return f"; closest config names: {', '.join(close[:5])}"
    return f"; configs available: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}"


def load_config(path: str, learning_rate: Optional[float] = None, batch_size: Optional[int] = None,
                iters: Optional[int] = None, opts: Optional[List[str]] = None,
                pretrained: bool = True) -> Tuple[Any, Any]:
    """Register our components, then parse ``path`` with PaddleSeg's Config; returns (cfg, builder).

    A ``path`` that is not a file is looked up as a config name under ``configs/`` (:func:`resolve_config`).
    ``pretrained=False`` builds the model without the weights its ``pretrained:`` keys name (never read, never
    downloaded): for predict, val and export, where a checkpoint replaces every weight, and for looking at a
    model (:func:`without_pretrained`).
    """
    import yaml
    from paddleseg.cvlibs import Config, SegBuilder

    from .registry import RegistryConflict, register

    path = resolve_config(path)
    try:
        register()
    except RegistryConflict as exc:
        raise ConfigError(f"cannot register paddle_segformer with PaddleSeg: {exc}") from exc
    try:
        cfg = Config(path, learning_rate=learning_rate, batch_size=batch_size, iters=iters, opts=opts)
    except (AssertionError, AttributeError, KeyError, TypeError, ValueError, OSError, RuntimeError,
            yaml.YAMLError) as exc:  # RuntimeError: PaddleSeg's config checker re-raises its rules' errors as it
        raise ConfigError(f"{path}: invalid config: {exc}") from exc
    if not pretrained:
        without_pretrained(cfg.dic)
    return cfg, SegBuilder(cfg)  # patched by register() (paddle_segformer.integration.builder)


PRETRAINED_KEYS = (("model", "pretrained"), ("model", "backbone", "pretrained"))


def without_pretrained(dic: Dict[str, Any]) -> List[str]:
    """Set the config's ``model.pretrained`` and ``model.backbone.pretrained`` to None (in place), so that the
    model is built without reading them; returns the dropped keys with their values, for a log line."""
    dropped = []
    for keys in PRETRAINED_KEYS:
        block = dic
        for key in keys[:-1]:
            block = block.get(key) if isinstance(block, dict) else None
        if isinstance(block, dict) and block.get(keys[-1]) is not None:
            dropped.append(f"{'.'.join(keys)}={block[keys[-1]]}")
            block[keys[-1]] = None
    if dropped:
        logger.debug("model built without its pretrained weights (not read): %s", ", ".join(dropped))
    return dropped


def build(builder: Any, what: str, path: str) -> Any:
    """``builder.<what>`` with the config path in any error (unknown type, bad arguments); a data file
    that fails the dataset's check, and ``pretrained:`` weights that do not fit the model or cannot be
    downloaded, are reported as themselves (their messages name the file or URL)."""
    from ..io.image import ImageReadError
    from ..weights.download import DownloadError
    from ..weights.rules import CheckpointError

    try:
        return getattr(builder, what)
    except (RuntimeError, AssertionError, KeyError) as exc:
        cause = exc.__cause__ or exc.__context__  # PaddleSeg's builder re-raises as RuntimeError
        if isinstance(cause, (ImageReadError, CheckpointError, DownloadError)):
            raise cause from None
        raise ConfigError(f"{path}: cannot build {what}: {exc}") from exc


def training_settings(config: str) -> Dict[str, float]:
    """The dropouts and ignore index of the model and loss a config builds, as Hugging Face config keys."""
    _, builder = load_config(config, pretrained=False)
    model = builder.model
    backbone = model.backbone
    blocks = [blk for i in range(1, 5) for blk in getattr(backbone, f"block{i}")]
    attn_drop = blocks[0].attn.attn_drop
    return {"classifier_dropout_prob": float(model.dropout.p),
            "drop_path_rate": max(float(getattr(blk.drop_path, "drop_prob", 0.0)) for blk in blocks),
            "hidden_dropout_prob": float(blocks[0].attn.proj_drop.p),
            "attention_probs_dropout_prob": float(attn_drop.p),
            "semantic_loss_ignore_index": int(builder.loss["types"][0].ignore_index)}
