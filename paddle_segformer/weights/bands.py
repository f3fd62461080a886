"""Adapting the first patch-embedding conv of a pretrained encoder to another band count (numpy).

Strategies, chosen with ``band_adapt`` on the backbone or the model (default ``rgb_mean``):

- ``rgb_mean``: keep the pretrained filters for the first bands (R, G, B), give every extra band the
  mean of those filters, then scale all filters by ``c_src / c_new``. An image whose bands all carry
  the same normalised signal then produces exactly the activations the pretrained net expects.
  Fewer bands than the checkpoint (e.g. one panchromatic band): every band gets the mean filter,
  scaled the same way, which keeps that property too.
- ``mean``: every band gets the mean filter, scaled by ``c_src / c_new`` (band order carries no meaning).
- ``random``: pretrained filters kept for the first bands (fewer bands: the first ones only), extra
  bands drawn from a normal distribution with the pretrained filters' standard deviation; no rescaling.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

STRATEGIES = ("rgb_mean", "mean", "random")


def adapt_in_channels(weight: np.ndarray, in_channels: int, strategy: str = "rgb_mean",
                      seed: Optional[int] = 0) -> np.ndarray:
    """(out, c_src, kh, kw) conv weight -> (out, in_channels, kh, kw) by ``strategy``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"band_adapt must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    weight = np.asarray(weight, dtype=np.float32)
    c_src = weight.shape[1]
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if in_channels == c_src:
        return weight.copy()
    mean = weight.mean(axis=1, keepdims=True)
    if strategy == "mean" or (strategy == "rgb_mean" and in_channels < c_src):
        return np.repeat(mean, in_channels, axis=1) * (c_src / in_channels)
    if in_channels < c_src:
        return weight[:, :in_channels].copy()
    extra = in_channels - c_src
    if strategy == "rgb_mean":
        return np.concatenate([weight, np.repeat(mean, extra, axis=1)], axis=1) * (c_src / in_channels)
    rng = np.random.default_rng(seed)
    new = rng.normal(0.0, float(weight.std()), size=(weight.shape[0], extra) + weight.shape[2:])
    return np.concatenate([weight, new.astype(np.float32)], axis=1)
