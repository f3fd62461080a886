"""PaddleSeg's test-time options as one object: multi-scale / flip augmentation and the sliding window.

The same set travels from a config's ``test_config`` and the flags of ``predict.py`` / ``val.py`` through
:func:`paddle_segformer.cli.predict.predict` and :func:`paddle_segformer.cli.val.evaluate` to the
:class:`~paddle_segformer.inference.predictor.Predictor` and PaddleSeg's ``infer`` / ``core.evaluate``.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Optional, Sequence, Tuple, Union


@dataclass(frozen=True)
class InferenceOptions:
    """Test-time options; keys and meanings as PaddleSeg's ``test_config``."""

    aug_eval: bool = False
    scales: Union[float, Tuple[float, ...]] = 1.0
    flip_horizontal: bool = False
    flip_vertical: bool = False
    is_slide: bool = False
    crop_size: Optional[Tuple[int, int]] = None  # (w, h)
    stride: Optional[Tuple[int, int]] = None  # (w, h)

    def __post_init__(self) -> None:
        for key in ("crop_size", "stride"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, tuple(int(v) for v in getattr(self, key)))
        if isinstance(self.scales, (list, tuple)):
            object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))

    @classmethod
    def from_config(cls, config_test: Optional[dict], **flags: Any) -> "InferenceOptions":
        """The config's ``test_config`` overridden by the flags actually given (None / False = not given);
        other ``test_config`` keys (tiling, ...) are not test-time options and are left out."""
        keys = {f.name for f in fields(cls)}
        values = {k: v for k, v in dict(config_test or {}).items() if k in keys}
        values.update({k: v for k, v in flags.items() if k in keys and v not in (None, False)})
        options = cls(**values)
        if options.is_slide and not (options.crop_size and options.stride):
            raise ValueError("sliding-window inference (is_slide) needs crop_size and stride (w h)")
        return options

    def over(self, config_test: Optional[dict]) -> "InferenceOptions":
        """These options (their non-default values) over a config's ``test_config``."""
        given = {k: v for k, v in asdict(self).items() if v != getattr(InferenceOptions, k)}
        return InferenceOptions.from_config(config_test, **given)

    @property
    def plain(self) -> bool:
        """True when predictions need neither test-time augmentation nor a sliding window."""
        return not (self.aug_eval or self.is_slide)

    @property
    def slide(self) -> Dict[str, Any]:
        """PaddleSeg ``infer``'s sliding-window arguments."""
        return dict(is_slide=self.is_slide, crop_size=self.crop_size, stride=self.stride)

    @property
    def aug(self) -> Optional[Dict[str, Any]]:
        """PaddleSeg ``aug_inference``'s arguments, None without augmentation."""
        if not self.aug_eval:
            return None
        return dict(scales=self.scales, flip_horizontal=self.flip_horizontal, flip_vertical=self.flip_vertical)

    def as_dict(self) -> Dict[str, Any]:
        """As a ``test_config`` dict (PaddleSeg's ``core.evaluate`` keyword arguments)."""
        return asdict(self)

    def with_window(self, crop: Sequence[int], stride: Sequence[int]) -> "InferenceOptions":
        """The same options with a sliding window of ``crop`` / ``stride`` (w, h)."""
        return replace(self, is_slide=True, crop_size=tuple(crop), stride=tuple(stride))

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, aug_flag: str) -> None:
        """The flags: ``--<aug_flag>`` (PaddleSeg calls it ``--aug_pred`` in predict.py and ``--aug_eval`` in
        val.py: both are accepted by both), ``--scales``, flips, ``--is_slide``, ``--crop_size``, ``--stride``."""
        spellings = [f"--{aug_flag}"] + [f for f in ("--aug_pred", "--aug_eval") if f != f"--{aug_flag}"]
        p.add_argument(*spellings, dest="aug_eval", action="store_true",
                       help="multi-scale / flip test-time augmentation")
        p.add_argument("--scales", type=float, nargs="+", help="scales for test-time augmentation")
        p.add_argument("--flip_horizontal", action="store_true")
        p.add_argument("--flip_vertical", action="store_true")
        p.add_argument("--is_slide", action="store_true", help="sliding-window inference")
        p.add_argument("--crop_size", type=int, nargs=2, help="sliding window (w h)")
        p.add_argument("--stride", type=int, nargs=2, help="sliding stride (w h)")

    @classmethod
    def pop_arguments(cls, args: Dict[str, Any]) -> "InferenceOptions":
        """Take the flags :meth:`add_arguments` added out of parsed ``args`` (a dict) as options; flags not
        given stay at their defaults, so the config's ``test_config`` still applies under them."""
        given = {f.name: args.pop(f.name) for f in fields(cls) if f.name in args}
        return cls(**{k: v for k, v in given.items() if v not in (None, False)})
