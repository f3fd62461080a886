"""Strict weight loading with a report: nothing is silently skipped into training from scratch.

Files are read by :func:`~.checkpoint.read_state_dict` (through the one reader, :mod:`.reader`); what a load
did is a :class:`~.load_report.LoadReport`; every failure is a :class:`~.rules.CheckpointError`.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Mapping, Optional
from urllib.parse import urlparse

import numpy as np
import paddle
import paddle.nn as nn

from .bands import adapt_in_channels
from .checkpoint import read_state_dict
from .facts import weight_facts
from .load_report import LoadReport, compare_state_dicts, shape_of
from .reader import checkpoint_file
from .rules import CheckpointError

logger = logging.getLogger(__name__)

# Keys a whole-model checkpoint may legitimately disagree on when num_classes differs.
CLASSIFIER_PREFIX = "linear_pred."


def resolve_path(path_or_url: str) -> str:
    """A local path as is; a URL is downloaded through PaddleSeg's cache (needs network)."""
    if urlparse(path_or_url).netloc:
        from paddleseg.utils.utils import download_pretrained_model

        return download_pretrained_model(path_or_url)
    return path_or_url


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

    Any supported format works (``.pdparams``, NVlabs ``.pth``, Hugging Face folder / files). A
    whole-model checkpoint given as a backbone is accepted: its ``backbone.`` keys are used, the decoder's
    left out.
    """
    path = checkpoint_file(resolve_path(path_or_url))  # the file a folder is read from, named in the report
    state = read_state_dict(path)
    if what == "backbone" and any(k.startswith("backbone.") for k in state):  # a whole model: its encoder
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        logger.info("%s: a whole-model checkpoint given as backbone weights: its backbone.* keys are used", path)
    return load_state_dict_strict(layer, state, source=f"{what} weights {path}", strict=strict,
                                  band_adapt=band_adapt)


def pretrained_target(path: str) -> str:
    """'model' if a checkpoint holds decoder weights, else 'backbone' (for ``train.py --pretrained``)."""
    state = read_state_dict(resolve_path(path))
    return "model" if any(k.startswith("linear_") for k in state) else "backbone"
