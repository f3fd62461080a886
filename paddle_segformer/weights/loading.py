"""Strict weight loading with a report: nothing is silently skipped into training from scratch."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlparse

import numpy as np
import paddle
import paddle.nn as nn

logger = logging.getLogger(__name__)

# Keys a whole-model checkpoint may legitimately disagree on when num_classes differs.
CLASSIFIER_PREFIX = "linear_pred."


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model; the message names file and keys."""


@dataclass
class LoadReport:
    """What a load did: keys loaded, missing from the file, unexpected in it, or mis-shaped."""

    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    reinitialised: List[str] = field(default_factory=list)
    adapted: List[str] = field(default_factory=list)
    skipped: bool = False  # strict loading was turned off and something did not load

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)

    def summary(self, limit: int = 8) -> str:
        def cut(items) -> str:
            items = [str(i) for i in items]
            more = f" ... (+{len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        lines = [f"{self.source}: loaded {len(self.loaded)}, missing {len(self.missing)}, "
                 f"unexpected {len(self.unexpected)}, shape-mismatched {len(self.mismatched)}"]
        if self.missing:
            lines.append(f"  missing: {cut(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected: {cut(self.unexpected)}")
        if self.mismatched:
            lines.append("  mismatched (key, file, model): " + cut(self.mismatched))
        if self.reinitialised:
            lines.append(f"  re-initialised (class count differs): {cut(self.reinitialised)}")
        if self.adapted:
            lines.append(f"  adapted to the model's band count: {cut(self.adapted)}")
        if self.skipped:
            lines.append("  strict loading is off: the keys above were NOT loaded and keep their initial values")
        return "\n".join(lines)


def _shape(value) -> Tuple[int, ...]:
    return tuple(int(s) for s in value.shape)


def compare_state_dicts(model_sd: Mapping, ckpt_sd: Mapping, source: str = "checkpoint") -> LoadReport:
    """Classify every key of ``model_sd`` and ``ckpt_sd`` without changing anything."""
    report = LoadReport(source=source)
    for key, value in model_sd.items():
        if key not in ckpt_sd:
            report.missing.append(key)
        elif _shape(ckpt_sd[key]) != _shape(value):
            report.mismatched.append((key, _shape(ckpt_sd[key]), _shape(value)))
        else:
            report.loaded.append(key)
    report.unexpected = [k for k in ckpt_sd if k not in model_sd]
    return report


def resolve_path(path_or_url: str) -> str:
    """A local path as is; a URL is downloaded through PaddleSeg's cache (needs network)."""
    if urlparse(path_or_url).netloc:
        from paddleseg.utils.utils import download_pretrained_model

        return download_pretrained_model(path_or_url)
    return path_or_url


FOREIGN_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")


def read_state_dict(path: str) -> Dict[str, object]:
    """Read a checkpoint into a dict with our keys.

    ``.pdparams`` (or a folder holding ``model.pdparams``) is read as is; NVlabs ``.pth`` and
    Hugging Face files or folders are converted on the fly (see :mod:`paddle_segformer.weights`).
    """
    from .checkpoint import HF_FILES

    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "model.pdparams")) and any(
            os.path.isfile(os.path.join(path, name)) for name in HF_FILES):
        return _read_foreign(path)
    if os.path.isdir(path):
        path = os.path.join(path, "model.pdparams")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.lower().endswith(FOREIGN_SUFFIXES):
        return _read_foreign(path)
    try:
        state = paddle.load(path)
    except Exception as exc:  # paddle raises several types for corrupt files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"checkpoint {path} holds no state dict (got {type(state).__name__})")
    return state


def _read_foreign(path: str) -> Dict[str, object]:
    from .checkpoint import load_any
    from .rules import ConversionError

    try:
        state, _ = load_any(path)
    except ConversionError as exc:
        raise CheckpointError(str(exc)) from exc
    return state


def _adapt_bands(model_sd: Mapping, state: Dict[str, object], strategy: str) -> List[str]:
    """Fit the first patch-embedding conv of ``state`` to the model's band count in place."""
    from .bands import adapt_in_channels

    done = []
    for key in [k for k in model_sd if k.endswith("patch_embed1.proj.weight") and k in state]:
        want, have = _shape(model_sd[key]), _shape(state[key])
        if want != have and want[0] == have[0] and want[2:] == have[2:]:
            value = state[key]
            array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            state[key] = adapt_in_channels(array, want[1], strategy)
            done.append(f"{key} {have[1]}->{want[1]} bands ({strategy})")
    return done


def load_state_dict_strict(layer: nn.Layer, state: Mapping, source: str = "checkpoint",
                           allow_missing: bool = False, allow_new_classes: bool = True, strict: bool = True,
                           band_adapt: Optional[str] = None) -> LoadReport:
    """Load ``state`` into ``layer``; raise :class:`CheckpointError` on missing or mis-shaped keys.

    With ``allow_new_classes`` a shape mismatch confined to ``linear_pred.*`` (a different class
    count) keeps the layer's fresh classifier and says so. With ``band_adapt`` (see
    :mod:`paddle_segformer.weights.bands`) a first conv made for another band count is adapted instead of
    refused. ``strict=False`` loads what fits and reports the rest loudly. Unexpected keys are
    reported, never loaded.
    """
    model_sd = layer.state_dict()
    state = dict(state)
    adapted = _adapt_bands(model_sd, state, band_adapt) if band_adapt else []
    report = compare_state_dicts(model_sd, state, source)
    report.adapted = adapted
    if allow_new_classes and report.mismatched and all(
            k.startswith(CLASSIFIER_PREFIX) for k, _, _ in report.mismatched):
        report.reinitialised = [k for k, _, _ in report.mismatched]
        report.mismatched = []
    if (report.missing and not allow_missing) or report.mismatched:
        if strict:
            raise CheckpointError("weights do not fit the model (strict loading; pretrained_strict: false "
                                  "loads what fits): " + report.summary())
        report.skipped = True
    new_state = {k: state[k] for k in report.loaded}
    for key, value in new_state.items():
        if isinstance(value, np.ndarray):  # converted foreign weights: match the model's dtype (fp16 files too)
            new_state[key] = paddle.to_tensor(value, dtype=model_sd[key].dtype)
    layer.set_state_dict(new_state)
    level = logging.WARNING if (report.missing or report.unexpected or report.reinitialised or report.adapted
                                or report.skipped) else logging.INFO
    logger.log(level, report.summary())
    return report


def strip_prefix(state: Mapping, prefix: str) -> Dict[str, object]:
    """Keys under ``prefix`` with it removed (other keys kept as they are)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def load_pretrained(layer: nn.Layer, path_or_url: str, what: str = "model", strict: bool = True,
                    band_adapt: Optional[str] = "rgb_mean") -> LoadReport:
    """Load a pretrained file into a backbone (``what='backbone'``) or a whole model, strictly.

    Any supported format works (``.pdparams``, NVlabs ``.pth``, Hugging Face folder / files). A
    whole-model checkpoint given as a backbone is accepted: its ``backbone.`` keys are used and
    the decoder keys reported as unexpected.
    """
    path = resolve_path(path_or_url)
    state = read_state_dict(path)
    if what == "backbone" and any(k.startswith("backbone.") for k in state):
        state = strip_prefix(state, "backbone.")
    return load_state_dict_strict(layer, state, source=f"{what} weights {path}", strict=strict,
                                  band_adapt=band_adapt)


def pretrained_target(path: str) -> str:
    """'model' if a checkpoint holds decoder weights, else 'backbone' (for ``train.py --pretrained``)."""
    state = read_state_dict(resolve_path(path))
    return "model" if any(k.startswith("linear_") for k in state) else "backbone"
