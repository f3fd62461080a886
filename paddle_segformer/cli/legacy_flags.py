"""Flags of PaddleSeg 2.4-2.8's train.py / val.py / predict.py / export.py kept for old commands.

Each does what it did there, or stops with a clear message where it cannot apply to SegFormer.
"""
from __future__ import annotations

import argparse
import logging
from typing import Any, List, Optional, Sequence, Tuple

logger = logging.getLogger("paddle_segformer")


def str2bool(value: str) -> bool:
    """'true/false, yes/no, 1/0' -> bool (PaddleSeg used ``type=bool``, for which 'False' is True)."""
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "y", "1"):
        return True
    if text in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def add_data_format_arg(p: argparse.ArgumentParser) -> None:
    """``--data_format`` of PaddleSeg's train.py / val.py (NHWC existed for DeepLabV3P only)."""
    p.add_argument("--data_format", choices=("NCHW", "NHWC"), default="NCHW",
                   help="input layout; PaddleSeg supports NHWC for DeepLabV3P only, SegFormer runs NCHW")


def check_data_format(data_format: str) -> None:
    """NCHW is what SegFormer runs; NHWC stops as it did in PaddleSeg for every model but DeepLabV3P."""
    if data_format != "NCHW":
        raise ValueError(f"--data_format {data_format}: PaddleSeg supports NHWC for DeepLabV3P only; "
                         "SegFormer runs in NCHW (leave the flag out)")


def parse_custom_color(values: Optional[Sequence[int]]) -> Optional[List[Tuple[int, int, int]]]:
    """``--custom_color R G B R G B ...`` (PaddleSeg's flat list) -> [(R, G, B), ...] for classes 0, 1, ...

    Raises ValueError unless it is whole RGB triples of values in 0..255.
    """
    if not values:
        return None
    values = list(values)
    if len(values) % 3 or any(not 0 <= v <= 255 for v in values):
        raise ValueError(f"--custom_color takes R G B values in 0..255 for classes 0, 1, ... (a multiple of 3 "
                         f"numbers), got {len(values)} value(s): {' '.join(map(str, values))}")
    return [tuple(values[i:i + 3]) for i in range(0, len(values), 3)]


def legacy_output_op(output_op: str, without_argmax: bool = False, with_softmax: bool = False) -> str:
    """PaddleSeg 2.4-2.6's ``--without_argmax`` / ``--with_softmax`` as 2.7-2.8's ``--output_op``."""
    if without_argmax or with_softmax:
        logger.warning("--without_argmax / --with_softmax are PaddleSeg's deprecated spellings of --output_op")
    if with_softmax:
        return "softmax"
    return "none" if without_argmax else output_op


def export_input_size(shape: Optional[Sequence[int]], in_channels: int) -> Optional[Tuple[int, int]]:
    """``--input_shape H W`` or PaddleSeg's ``N C H W`` -> (H, W); the batch stays dynamic."""
    if not shape:
        return None
    shape = list(shape)
    if len(shape) == 4:
        if shape[1] != in_channels:
            raise ValueError(f"--input_shape {' '.join(map(str, shape))}: the model takes {in_channels} band(s), "
                             f"not {shape[1]}")
        shape = shape[2:]
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"--input_shape takes H W or N C H W, got {' '.join(map(str, shape))}")
    return shape[0], shape[1]


def repeat_dataset(dataset: Any, repeats: int) -> Any:
    """PaddleSeg 2.8's ``--repeats``: every sample ``repeats`` times per epoch (its ``file_list`` repeated)."""
    if repeats == 1:
        return dataset
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    if not isinstance(getattr(dataset, "file_list", None), list):
        raise ValueError(f"--repeats: dataset type {type(dataset).__name__} has no file_list to repeat")
    dataset.file_list = dataset.file_list * repeats
    return dataset
