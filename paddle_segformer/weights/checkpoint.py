"""Checkpoints read by :func:`~.reader.read_checkpoint`, converted to our keys and described.

Nothing here imports paddle or torch; the reader imports them only for the files that need them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..variants import MIT_VARIANTS, variant_key
from . import formats
from .facts import weight_facts
from .reader import checkpoint_file, is_paddle_file, read_checkpoint
from .rules import CheckpointError, Format, detect, to_ours

logger = logging.getLogger(__name__)


def _add_prefixes(state: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Encoder-only files carry no model prefix: NVlabs mit_b*.pth and PaddleSeg backbones lack
    ``backbone.``, a Hugging Face ``SegformerModel`` lacks ``segformer.``. Add it back."""
    keys = list(state)
    if any(k.startswith(("encoder.", "stages.")) for k in keys) and not any(k.startswith("segformer.") for k in keys):
        return {(f"segformer.{k}" if k.startswith(("encoder.", "stages.")) else k): v for k, v in state.items()}
    if any(k.startswith(("backbone.", "decode_head.", "linear_", "segformer.")) for k in keys):
        return dict(state)
    return {(f"backbone.{k}" if k.startswith(("patch_embed", "block", "norm")) else k): v for k, v in state.items()}


def find_format(state: Mapping[str, np.ndarray], name: Optional[str] = None, path: str = "") -> Format:
    """The format named (``hf``, ``nvlabs``, ``paddleseg``) or the one the keys reveal."""
    if name is not None and name not in formats.FORMATS:
        raise CheckpointError(f"{path or 'checkpoint'}: unknown format {name!r}; known: {', '.join(formats.FORMATS)}")
    candidates = formats.FORMATS[name] if name else formats.ALL
    fmt = detect(state, candidates)
    if fmt is None and "backbone.block1.0.attn.kv.weight" in state:  # backbone only: tell by the layout
        kv = state["backbone.block1.0.attn.kv.weight"]
        paddle_layout = kv.shape[1] == 2 * kv.shape[0]
        guess = formats.PADDLESEG if paddle_layout else formats.NVLABS
        if name not in (None, guess.name):
            layout = "Paddle (in, out)" if paddle_layout else "PyTorch (out, in)"
            raise CheckpointError(f"{path or 'checkpoint'}: has the official key names but its Linear weights are "
                                  f"in {layout} layout, which is the {guess.name} format, not {name}")
        fmt = guess
    if fmt is None:
        expected = {"hf": "segformer.encoder.* (or segformer.stages.*) and decode_head.*",
                    "nvlabs": "backbone.patch_embed1.*, backbone.block1.0.attn.q.*, decode_head.linear_fuse.conv.*",
                    "paddleseg": "backbone.patch_embed1.*, linear_fuse._conv.*"}
        wanted = {name: expected[name]} if name else expected
        raise CheckpointError(f"{path or 'checkpoint'} matches no known SegFormer format; expected keys like "
                              + "; ".join(f"{k}: {v}" for k, v in wanted.items())
                              + f". It has e.g. {list(state)[:4]}")
    return fmt


@dataclass
class CheckpointInfo:
    """What a converted checkpoint holds."""

    source: str
    format: str
    variant: str
    in_channels: int
    num_classes: Optional[int]  # None for a backbone-only checkpoint
    decoder_dim: Optional[int]
    dropped: List[str] = field(default_factory=list)

    @property
    def backbone_only(self) -> bool:
        return self.num_classes is None


def describe(state: Mapping[str, np.ndarray],
             variant: Optional[str] = None) -> Tuple[str, int, Optional[int], Optional[int]]:
    """(variant, in_channels, num_classes, decoder_dim) of a state dict in our full-model keys
    (:func:`~.facts.weight_facts`, with errors for what is not a MiT checkpoint of a known or the named variant)."""
    facts = weight_facts(state) if "backbone.patch_embed1.proj.weight" in state else None
    if facts is None:
        raise CheckpointError("no patch embedding weights (backbone.patch_embed1..4.proj.weight): not a MiT "
                              "checkpoint")
    shape = (facts.widths, facts.depths)
    if variant is not None:
        try:
            variant = variant_key(variant)
        except KeyError as exc:
            raise CheckpointError(str(exc.args[0])) from exc
        spec = MIT_VARIANTS[variant]
        if (spec.embed_dims, spec.depths) != shape:
            raise CheckpointError(f"checkpoint has embed dims {shape[0]} and depths {shape[1]}, not those of {variant}")
    elif facts.variant is None:
        raise CheckpointError(f"embed dims {shape[0]} and depths {shape[1]} match no MiT variant")
    fuse = state.get("linear_fuse._conv.weight")
    return variant or facts.variant, facts.in_channels, facts.num_classes, None if fuse is None else int(fuse.shape[0])


def convert_state(state: Mapping[str, np.ndarray], fmt_name: Optional[str] = None, variant: Optional[str] = None,
                  source: str = "") -> Tuple[Dict[str, np.ndarray], CheckpointInfo]:
    """Foreign state (numpy) -> (our state with full-model keys, info); errors name ``source``."""
    where = source or "checkpoint"
    state = _add_prefixes(state)
    fmt = find_format(state, fmt_name, where)
    try:
        ours, dropped = to_ours(state, fmt)
        name, in_channels, num_classes, decoder_dim = describe(ours, variant)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    info = CheckpointInfo(source, fmt.name, name, in_channels, num_classes, decoder_dim, dropped)
    if dropped:
        logger.info("%s: left out %d key(s) not used by SegFormer (%s)", source or fmt.name, len(dropped),
                    ", ".join(dropped[:4]) + (" ..." if len(dropped) > 4 else ""))
    return ours, info


def load_any(path: str, fmt_name: Optional[str] = None, variant: Optional[str] = None,
             trust_pickle: bool = False) -> Tuple[Dict[str, np.ndarray], CheckpointInfo]:
    """Read (:func:`~.reader.read_checkpoint`) and convert ``path``; returns our full-model keys
    (``backbone.*`` for backbone-only files)."""
    path = checkpoint_file(path)
    return convert_state(read_checkpoint(path, trust_pickle), fmt_name, variant, source=path)


def read_state_dict(path: str, trust_pickle: bool = False) -> Dict[str, np.ndarray]:
    """A checkpoint as a state dict with our keys, for loading into a model.

    A ``.pdparams`` file (or a folder holding ``model.pdparams``, which wins over Hugging Face files
    beside it: see :func:`~.reader.checkpoint_file`) is taken as it is, key for key; NVlabs ``.pth`` and
    Hugging Face files or folders are converted (:func:`load_any`).
    """
    path = checkpoint_file(path)
    if is_paddle_file(path):
        return read_checkpoint(path, trust_pickle)
    state, _ = load_any(path, trust_pickle=trust_pickle)
    return state
