"""Strict weight loading with a report: nothing is silently skipped into training from scratch.

Files are read by :func:`~.checkpoint.read_state_dict` (through the one reader, :mod:`.reader`); what a load
did is a :class:`~.load_report.LoadReport`; every failure is a :class:`~.rules.CheckpointError`.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Mapping, Optional

import numpy as np
import paddle
import paddle.nn as nn

from .bands import adapt_in_channels
from .checkpoint import read_state_dict
from .facts import weight_facts
from .load_report import LoadReport, compare_state_dicts, shape_of
from .pretrained_cache import PretrainedFile, confirm, locate
from .rules import CheckpointError

logger = logging.getLogger(__name__)

# Keys a whole-model checkpoint may legitimately disagree on when num_classes differs.
CLASSIFIER_PREFIX = "linear_pred."


def _adapt_bands(model_sd: Mapping, state: Dict[str, object], strategy: str) -> List[str]:
    """Fit the first patch-embedding conv of ``state`` to the model's band count in place."""
    done = []
    for key in [k for k in model_sd if k.endswith("patch_embed1.proj.weight") and k in state]:
        want, have = shape_of(model_sd[key]), shape_of(state[key])
        if want != have and want[0] == have[0] and want[2:] == have[2:]:
            value = state[key]
            array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
            state[key] = adapt_in_channels(array, want[1], strategy)
            done.append(f"{key} {have[1]}->{want[1]} bands ({strategy})")
    return done


def load_state_dict_strict(layer: nn.Layer, state: Mapping, source: str = "checkpoint",
                           allow_missing: bool = False, allow_new_classes: bool = True, strict: bool = True,
                           band_adapt: Optional[str] = None) -> LoadReport:
    """Load ``state`` into ``layer``; raise :class:`CheckpointError` on missing, unexpected or mis-shaped keys.

    With ``allow_new_classes`` a shape mismatch confined to ``linear_pred.*`` (a different class
    count) keeps the layer's fresh classifier and says so. With ``band_adapt`` (see
    :mod:`paddle_segformer.weights.bands`) a first conv made for another band count is adapted instead of
    refused. Unexpected keys (a deeper variant's extra blocks, another model's layers) are as fatal as
    missing ones: a B3 checkpoint never runs as a truncated B2. ``strict=False`` loads what fits and
    reports the rest loudly; unexpected keys are then never loaded.
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
    if (report.missing and not allow_missing) or report.mismatched or report.unexpected:
        if strict:
            raise does_not_fit(model_sd, state, report)
        report.skipped = True
    new_state = {k: state[k] for k in report.loaded}
    for key, value in new_state.items():
        if isinstance(value, np.ndarray):  # as read from a file: match the model's dtype (fp16 files too)
            new_state[key] = paddle.to_tensor(value, dtype=model_sd[key].dtype)
    layer.set_state_dict(new_state)
    level = logging.WARNING if (report.missing or report.unexpected or report.reinitialised or report.adapted
                                or report.skipped) else logging.INFO
    logger.log(level, report.summary())
    return report


def does_not_fit(model_sd: Mapping, state: Mapping, report: LoadReport,
                 lead: str = "weights do not fit the model",
                 way_out: str = " (strict loading; pretrained_strict: false loads what fits)") -> CheckpointError:
    """The error of weights that do not fit a model: ``lead``, what the checkpoint holds and what the model is
    (when they differ), ``way_out``, then the keys of ``report``."""
    held, wanted = weight_facts(state), weight_facts(model_sd)
    facts = f": the checkpoint holds {held}; the model is {wanted}." if held and wanted and held != wanted else ""
    return CheckpointError(f"{lead}{facts}{way_out}\n" + report.summary(), held=held, wanted=wanted)


def load_pretrained(layer: nn.Layer, path_or_url: str, what: str = "model", strict: bool = True,
                    band_adapt: Optional[str] = "rgb_mean") -> LoadReport:
    """Load a pretrained file into a backbone (``what='backbone'``) or a whole model, strictly.

    Any supported format works (``.pdparams``, PaddleSeg's ``.tar.gz``, NVlabs ``.pth``, Hugging Face folder /
    files). A URL is read from the cache, downloaded on first use and checked against the sha256 recorded then
    (:mod:`.pretrained_cache`); a local path is read where it is. A whole-model checkpoint given as a backbone is
    accepted: its ``backbone.`` keys are used, the decoder's left out. The report's ``origin`` says where the
    weights came from.
    """
    found = locate(path_or_url)
    try:
        report = load_state_dict_strict(layer, _state_for(found, what), source=f"{what} weights {found.path}",
                                        strict=strict, band_adapt=band_adapt)
    except CheckpointError as exc:
        raise _unverified(exc, found) from None
    report.origin = found
    confirm(found)
    return report


def verify_pretrained(model_sd: Mapping, found: PretrainedFile, what: str = "backbone") -> LoadReport:
    """Check, without loading anything, that the weights ``found`` fit ``model_sd`` (a model's state dict, e.g.
    of one built under ``paddle.LazyGuard``) key for key and shape for shape; then record a cached file's sha256
    (:func:`~.pretrained_cache.confirm`). Raises :class:`CheckpointError` naming what the file holds."""
    source = f"{what} weights {found.path}"
    try:
        state = _state_for(found, what)
        report = compare_state_dicts(model_sd, state, source)
        if not report.ok or report.unexpected:
            raise does_not_fit(model_sd, state, report, way_out="")
    except CheckpointError as exc:
        raise _unverified(exc, found) from None
    report.origin = found
    confirm(found)
    return report


def _state_for(found: PretrainedFile, what: str) -> Dict[str, np.ndarray]:
    """The state dict of ``found`` for a backbone (a whole model's ``backbone.*`` keys, prefix removed) or a
    model."""
    state = read_state_dict(found.path)
    if what == "backbone" and any(k.startswith("backbone.") for k in state):  # a whole model: its encoder
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        logger.info("%s: a whole-model checkpoint given as backbone weights: its backbone.* keys are used",
                    found.path)
    return state


def _unverified(exc: CheckpointError, found: PretrainedFile) -> CheckpointError:
    """``exc`` saying, for a cached file never loaded before, how to get it again."""
    if found.recorded or not found.url:
        return exc
    return CheckpointError(f"{exc}\n{found.path} is the cached copy of {found.url}, never loaded before: delete it "
                           "to download it again", held=exc.held, wanted=exc.wanted)


def pretrained_target(path: str) -> str:
    """'model' if a checkpoint holds decoder weights, else 'backbone' (for ``train.py --pretrained``)."""
    state = read_state_dict(locate(path).path)
    return "model" if any(k.startswith("linear_") for k in state) else "backbone"
