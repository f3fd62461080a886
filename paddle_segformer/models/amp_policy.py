"""Mixed precision for SegFormer: what stays float32 under ``--fp16`` / ``--bf16`` (the fp32 islands), and why.

:data:`ISLANDS` is the policy, one entry per concept, with its reason. Three mechanisms carry it out:

- ``ops`` go into ``paddle.amp.auto_cast``'s ``custom_black_list`` at every level (O1 and O2): a
  black-listed op gets float32 inputs and computes in float32 (at O2 with Paddle's default
  ``use_promote=True`` too). The names are those of the dynamic graph (``paddle._C_ops.<name>``), which
  is what ``auto_cast`` matches in PaddleSeg's loop; Paddle's own default lists mostly name the static
  graph's ops (``softmax_with_cross_entropy``, ``bilinear_interp_v2``), so both spellings are listed.
- ``params``: at O2 ``paddle.amp.decorate`` casts every parameter to half precision except those of
  the layer types passed as ``excluded_layers``; these types are passed.
- ``cast``: where a list cannot express the island, the layer casts explicitly (named in the entry).

:class:`PolicyPaddle` stands in for ``paddle`` in PaddleSeg's training and evaluation loops (put there
by :mod:`paddle_segformer.engine.hooks`) so that they use this policy instead of their own lists (PaddleSeg 2.8 white-lists ``batch_norm`` and passes no ``excluded_layers``); the
model's own bf16 forward (``SegFormer.amp_dtype``) uses :func:`auto_cast_lists` directly.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import paddle

LEVELS = ("O1", "O2")


@dataclass(frozen=True)
class Island:
    """One thing kept in float32: ``ops`` (black list), ``params`` (layer types excluded from O2's cast)
    and ``cast`` (where the code casts explicitly), with the ``reason``."""

    name: str
    ops: Tuple[str, ...]
    params: Tuple[str, ...]
    cast: str
    reason: str


ISLANDS: Tuple[Island, ...] = (
    Island("attention scores and softmax", ops=("softmax",), params=(),
           cast="paddle_segformer.models.layers.attention_probs: q k^T * scale computed with autocast off on float32 "
                "copies of q and k",
           reason="q k^T sums head_dim (32-64) products of activations that grow during training; in half "
                  "precision the scores overflow 65504 to Inf and the softmax turns them into NaN, and even "
                  "finite large scores lose the resolution softmax needs. The scores come from a matmul, "
                  "which every level casts to half (Paddle's white list); black-listing matmul would put "
                  "every linear layer in float32, so the scores are cast instead. softmax is in Paddle's O1 "
                  "black list, not in O2's."),
    Island("LayerNorm", ops=("layer_norm",), params=("LayerNorm",), cast="",
           reason="mean and variance over 32-512 channels of the un-normalised residual stream: in half "
                  "precision the squares overflow and the variance loses digits. In Paddle's O1 black list, "
                  "not in O2's; O2's cast keeps fp16 LayerNorm weights in float32 but casts them for bf16."),
    Island("decoder fuse BatchNorm statistics", ops=("batch_norm", "sync_batch_norm", "sync_batch_norm_"),
           params=("BatchNorm2D", "SyncBatchNorm"), cast="",
           reason="the decoder's only BatchNorm normalises the sum of the four projected stage maps; its batch "
                  "statistics and running averages (the inference weights) stay float32. PaddleSeg 2.8's "
                  "loop white-lists batch_norm and sync_batch_norm (half precision): replaced here."),
    Island("loss", ops=("cross_entropy_with_softmax", "softmax_with_cross_entropy"), params=(), cast="",
           reason="softmax cross-entropy over the classes: the log of small probabilities and a sum over every "
                  "pixel. Paddle's default black list names the static graph's op (softmax_with_cross_entropy) "
                  "only, so in the dynamic graph the loss would follow its input's dtype. What follows the loss "
                  "(the mean, the coefficients) gets a float32 input and stays float32."),
    Island("final upsampling to the label size", ops=("bilinear_interp", "bilinear_interp_v2"), params=(), cast="",
           reason="the logits reach the loss at full precision. Paddle (its extra black list: the half "
                  "precision backward of interpolation is slower) and PaddleSeg keep it in float32 but name "
                  "the static graph's op (bilinear_interp_v2) only."),
)


def black_list(islands: Tuple[Island, ...] = ISLANDS) -> Set[str]:
    """Op names ``auto_cast`` keeps in float32 (the same at O1 and O2)."""
    return {op for island in islands for op in island.ops}


def auto_cast_lists(level: str = "O1") -> Dict[str, Set[str]]:
    """``custom_white_list`` / ``custom_black_list`` keyword arguments for ``paddle.amp.auto_cast`` at ``level``.

    Nothing is added to Paddle's white list: PaddleSeg's additions are either norms (kept float32 here)
    or ``elementwise_add``, a static-graph name the dynamic graph never meets.
    """
    if level not in LEVELS:
        raise ValueError(f"--amp_level must be one of {', '.join(LEVELS)}, got {level!r}")
    return {"custom_white_list": set(), "custom_black_list": black_list()}


def fp32_layer_types() -> List[type]:
    """Layer types whose parameters O2 keeps in float32 (``paddle.amp.decorate``'s ``excluded_layers``)."""
    return [getattr(paddle.nn, name) for island in ISLANDS for name in island.params]


def describe(level: str) -> str:
    """One line for the log: the islands at ``level`` (O2 also keeps some parameters float32)."""
    line = f"AMP {level}, kept in float32: " + "; ".join(
        f"{i.name} ({', '.join(i.ops)}{' + cast' if i.cast else ''})" for i in ISLANDS)
    if level == "O2":
        line += "; parameters of " + ", ".join(t.__name__ for t in fp32_layer_types())
    return line


@paddle.jit.not_to_static
def amp_active() -> bool:
    """True inside an enabled ``paddle.amp.auto_cast`` of the dynamic graph (the tracer's AMP level is not O0).

    Paddle has no public query for this (``_in_amp_guard`` covers O1 only). On a CPU, where Paddle
    disables autocast, and in static / export mode it is False.
    """
    from paddle.base import core
    from paddle.base.framework import _dygraph_tracer

    tracer = _dygraph_tracer() if paddle.in_dynamic_mode() else None
    return tracer is not None and tracer._amp_level != core.AmpLevel.O0


@contextlib.contextmanager
def autocast_off() -> Iterator[None]:
    """Autocast off for the block (ops run in their inputs' dtype): a float32 island for float32 inputs.
    The enclosing autocast's dtype is passed on, so Paddle's global AMP state keeps it."""
    from paddle.base.framework import _dygraph_tracer

    outer = _dygraph_tracer()._amp_dtype
    with paddle.amp.auto_cast(enable=False, dtype=outer if outer in ("float16", "bfloat16") else "float16"):
        yield


class _PolicyAmp:
    """Stands in for ``paddle.amp`` in a PaddleSeg loop: ``auto_cast`` with this policy's lists (the
    loop's own are dropped), ``decorate`` with its float32 layer types added to ``excluded_layers``."""

    def __init__(self, module: Any):
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def auto_cast(self, enable: bool = True, custom_white_list: Any = None, custom_black_list: Any = None,
                  level: str = "O1", dtype: str = "float16", use_promote: bool = True) -> Any:
        return self._module.auto_cast(enable=enable, level=level, dtype=dtype, use_promote=use_promote,
                                      **auto_cast_lists(level))

    def decorate(self, *args: Any, excluded_layers: Optional[Any] = None, **kwargs: Any) -> Any:
        given = [] if excluded_layers is None else (
            list(excluded_layers) if isinstance(excluded_layers, (list, tuple)) else [excluded_layers])
        return self._module.decorate(*args, excluded_layers=given + fp32_layer_types(), **kwargs)


class PolicyPaddle:
    """Stands in for the ``paddle`` module inside a PaddleSeg loop: its ``amp`` is :class:`_PolicyAmp`."""

    def __init__(self, module: Any):
        self._module, self.amp = module, _PolicyAmp(module.amp)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)
