"""The option sets of inference, each one object built in one place from the flags (``add_arguments`` /
``pop_arguments``) or by a notebook, and resolved against the config's ``test_config`` where it has a say:

- :class:`InferenceOptions`: PaddleSeg's test-time options (multi-scale / flip augmentation, sliding window);
- :class:`TilingOptions`: whole scenes predicted in tiles (``--tile --overlap --batch_size``);
- :class:`RuntimeOptions`: which runtime, precision, threads, artifact cache and memory budget.

They travel from ``predict.py`` / ``val.py`` through :func:`paddle_segformer.cli.predict.predict` and
:func:`paddle_segformer.cli.val.evaluate` to the :class:`~paddle_segformer.inference.predictor.Predictor`,
the runtimes and PaddleSeg's ``infer`` / ``core.evaluate``.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:
    from .memory import MemoryBudget
    from .tiled import Tiling

BACKENDS = ("paddle", "inference", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
DEFAULT_CALIB = 300  # calibration images for int8 (capped by the training list's length)
DEFAULT_INT8_MAX_DROP = 0.01  # int8: the largest mIoU lost to quantisation (absolute) accuracy control accepts
DEFAULT_INT8_VAL = 50  # int8: validation images accuracy control scores (capped by the validation list's length)
OUTPUT_OPS = ("argmax", "softmax", "none")  # what an export ends in (export.py --output_op)


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
        return cls(**{k: v for k, v in _given(cls, args).items() if v is not False})


def _given(cls: Any, args: Dict[str, Any]) -> Dict[str, Any]:
    """The fields of ``cls`` taken out of parsed ``args`` (a dict), flags not given (None) left out."""
    return {k: v for k, v in ((f.name, args.pop(f.name)) for f in fields(cls) if f.name in args) if v is not None}


@dataclass(frozen=True)
class TilingOptions:
    """Whole scenes (rasters) predicted in tiles: ``tile`` px (None: the config's ``test_config.tile``; 0: off),
    ``overlap`` px blended on the logits (default 64), ``batch_size`` tiles per forward pass (default 1)."""

    tile: Optional[int] = None
    overlap: Optional[int] = None
    batch_size: Optional[int] = None

    def over(self, config_test: Optional[dict]) -> Optional["Tiling"]:
        """The tiling to use (None: no tiling): these options over a config's ``test_config``."""
        from .tiled import Tiling

        test = dict(config_test or {})
        given = {key: getattr(self, key) if getattr(self, key) is not None else test.get(key)
                 for key in ("tile", "overlap", "batch_size")}
        if not given["tile"]:
            return None
        return Tiling(**{key: int(value) for key, value in given.items() if value is not None})

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tile", type=int,
                       help="predict rasters as whole scenes in tiles of this size, bounded memory (0: off)")
        p.add_argument("--overlap", type=int, help="tile overlap in pixels, blended on the logits (default 64)")
        p.add_argument("--batch_size", type=int, help="tiles per forward pass (default 1; more helps on a GPU)")

    @classmethod
    def pop_arguments(cls, args: Dict[str, Any]) -> "TilingOptions":
        return cls(**_given(cls, args))


@dataclass(frozen=True)
class RuntimeOptions:
    """How inference runs: ``backend`` (auto or one of BACKENDS), ``precision`` (fp32 / bf16 / int8),
    ``threads`` (default: OMP_NUM_THREADS or all cores), ``cache_dir`` for exported models,
    ``max_memory`` ('4G', '512M'; default half the available memory) for one forward pass, ``calib``:
    calibration images drawn from the training list for int8 (paddle_segformer.inference.int8),
    ``int8_max_drop``: the mIoU int8 may lose against float32 on the validation list (NNCF's accuracy
    control; absolute), ``int8_val``: how many validation images it scores."""

    backend: str = "auto"
    precision: str = "fp32"
    threads: Optional[int] = None
    cache_dir: Optional[str] = None
    max_memory: Optional[str] = None
    calib: int = DEFAULT_CALIB
    int8_max_drop: float = DEFAULT_INT8_MAX_DROP
    int8_val: int = DEFAULT_INT8_VAL

    def __post_init__(self) -> None:
        if self.backend not in ("auto",) + BACKENDS:
            raise ValueError(f"backend must be auto or one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"inference precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.calib < 1:
            raise ValueError(f"--calib must be at least 1, got {self.calib}")
        if self.int8_max_drop < 0:
            raise ValueError(f"--int8_max_drop is an mIoU drop, 0 or more, got {self.int8_max_drop}")
        if self.int8_val < 1:
            raise ValueError(f"--int8_val must be at least 1, got {self.int8_val}")

    def thread_count(self) -> int:
        return self.threads or int(os.environ.get("OMP_NUM_THREADS", 0) or 0) or os.cpu_count() or 1

    def memory_budget(self) -> "MemoryBudget":
        from .memory import MemoryBudget

        return MemoryBudget.create(self.max_memory)

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        """``--backend --precision --threads --cache_dir --max_memory --calib --int8_max_drop --int8_val``."""
        p.add_argument("--backend", choices=("auto",) + BACKENDS, default="auto",
                       help="inference runtime (default auto: the fastest installed, OpenVINO on a CPU)")
        p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                       help="bf16 runs through OpenVINO on CPUs with avx512_bf16 / AMX; int8 through OpenVINO "
                            "on a model quantised by NNCF (made once with --calib images, cached)")
        p.add_argument("--threads", type=int, help="runtime threads (default: OMP_NUM_THREADS or all cores)")
        p.add_argument("--cache_dir", help="where exported / converted models are cached "
                                           "(default: beside the checkpoint, else ~/.cache/paddle_segformer)")
        p.add_argument("--max_memory", help="memory budget of one forward pass, e.g. 4G or 512M (default: half "
                                            "the memory available); larger images are predicted in tiles")
        p.add_argument("--calib", type=int, help=f"int8: calibration images drawn evenly from the config's "
                                                 f"training list (default {DEFAULT_CALIB}, capped by its length)")
        p.add_argument("--int8_max_drop", type=float,
                       help=f"int8: the largest mIoU drop against float32 on the config's validation list that "
                            f"NNCF's accuracy control accepts (absolute, default {DEFAULT_INT8_MAX_DROP}); "
                            f"predict.py refuses an INT8 model that lost more")
        p.add_argument("--int8_val", type=int,
                       help=f"int8: validation images accuracy control scores, drawn evenly from the validation "
                            f"list (default {DEFAULT_INT8_VAL}, capped by its length)")

    @classmethod
    def pop_arguments(cls, args: Dict[str, Any]) -> "RuntimeOptions":
        return cls(**_given(cls, args))


@dataclass(frozen=True)
class JobOptions:
    """A folder prediction as a job (paddle_segformer.inference.shards, resume, job_report): ``overwrite`` redoes
    files the manifest says are done; ``report_timeout`` is how long rank 0 waits for the other ranks' reports
    after its own share (seconds)."""

    overwrite: bool = False
    report_timeout: float = 3600.0

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        """``--overwrite --report_timeout``."""
        p.add_argument("--overwrite", action="store_true",
                       help="redo every file (default: skip files predicted before with the same weights and "
                            "options, as the save folder's manifest records)")
        p.add_argument("--report_timeout", type=float,
                       help="under several processes: how long rank 0 waits for the others' reports after its "
                            "own share, in seconds (default 3600)")

    @classmethod
    def pop_arguments(cls, args: Dict[str, Any]) -> "JobOptions":
        return cls(**_given(cls, args))
