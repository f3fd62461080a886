"""A declarative key/tensor mapping engine (numpy only).

A :class:`Rule` pairs a key template of a foreign format with one of ours, e.g.
``segformer.encoder.block.{stage}.{block}.attention.self.query.{p}`` <->
``backbone.block{stage}.{block}.attn.q.{p}``, plus a tensor rule:

- ``copy``: the tensor as it is;
- ``linear``: a ``torch.nn.Linear`` weight is (out, in), Paddle's is (in, out): 2-D weights transposed;
- ``kv0`` / ``kv1``: separate key / value projections that are halves of our fused ``kv`` Linear.

``{stage}`` is numbered from the format's ``stage_base`` on its side and from 1 on ours; it also
numbers the decoder's four projections. ``{block}`` is a block index, ``{p}`` weight or bias.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Pattern, Tuple

import numpy as np

FIELDS = {"stage": r"\d+", "block": r"\d+", "p": r"weight|bias"}
KINDS = ("copy", "linear", "kv0", "kv1")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, does not fit a format or does not fit the model; the message names
    the file (callers add it to the engine's messages) and the keys at fault. The one error type of weights/.

    When weights do not fit a model, ``held`` and ``wanted`` are the :class:`~.facts.WeightFacts` of the
    checkpoint and of the model (for a caller that can name the config fitting the checkpoint)."""

    def __init__(self, message: str, held: Optional[object] = None, wanted: Optional[object] = None):
        super().__init__(message)
        self.held, self.wanted = held, wanted


def _compile(template: str) -> Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>{FIELDS[part]})" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Rule:
    src: str
    dst: str
    kind: str = "copy"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown tensor rule {self.kind!r}")


@dataclass(frozen=True)
class Format:
    """A checkpoint family: its rules, keys it drops on purpose, and how to recognise it."""

    name: str
    rules: Tuple[Rule, ...]
    stage_base: int = 1
    ignore: Tuple[str, ...] = ()  # regexes of keys deliberately left out (classifier heads, counters)
    signature: str = r"$^"  # a key matching this identifies the format
    _compiled: List[Tuple[Pattern[str], Pattern[str], Rule]] = field(default_factory=list, compare=False, repr=False)

    def compiled(self) -> List[Tuple[Pattern[str], Pattern[str], Rule]]:
        if not self._compiled:
            self._compiled.extend((_compile(r.src), _compile(r.dst), r) for r in self.rules)
        return self._compiled

    def ignored(self, key: str) -> bool:
        return any(re.search(pattern, key) for pattern in self.ignore)


def _fill(template: str, groups: Mapping[str, str], shift: int) -> str:
    values = dict(groups)
    if "stage" in values:
        values["stage"] = str(int(values["stage"]) + shift)
    return template.format(**values)


def _linear(array: np.ndarray, key: str) -> np.ndarray:
    return array.T.copy() if key.endswith("weight") and array.ndim == 2 else array


def to_ours(state: Mapping[str, np.ndarray], fmt: Format) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """Foreign keys -> our keys. Returns (state, dropped keys). Unknown keys raise CheckpointError."""
    out: Dict[str, np.ndarray] = {}
    halves: Dict[str, Dict[str, np.ndarray]] = {}
    dropped, unknown = [], []
    shift = 1 - fmt.stage_base
    for key, value in state.items():
        for src, _, rule in fmt.compiled():
            match = src.match(key)
            if match:
                target = _fill(rule.dst, match.groupdict(), shift)
                array = np.asarray(value) if rule.kind == "copy" else _linear(np.asarray(value), target)
                if rule.kind in ("kv0", "kv1"):
                    halves.setdefault(target, {})[rule.kind] = array
                else:
                    out[target] = array
                break
        else:
            (dropped if fmt.ignored(key) else unknown).append(key)
    if unknown:
        raise CheckpointError(f"{len(unknown)} key(s) match no {fmt.name} rule, e.g. {unknown[:5]}")
    for target, parts in halves.items():
        if set(parts) != {"kv0", "kv1"}:
            raise CheckpointError(f"{target}: the checkpoint has only the {'key' if 'kv0' in parts else 'value'} half")
        axis = 1 if parts["kv0"].ndim == 2 else 0  # after the transpose, outputs are columns
        out[target] = np.concatenate([parts["kv0"], parts["kv1"]], axis=axis)
    return out, dropped


def from_ours(state: Mapping[str, np.ndarray], fmt: Format) -> Dict[str, np.ndarray]:
    """Our keys -> the format's keys (the inverse of :func:`to_ours`)."""
    out: Dict[str, np.ndarray] = {}
    unknown = []
    shift = fmt.stage_base - 1
    for key, value in state.items():
        hits = [(match, rule) for _, dst, rule in fmt.compiled() if (match := dst.match(key))]
        if not hits:
            unknown.append(key)
            continue
        array = np.asarray(value)
        for match, rule in hits:
            target = _fill(rule.src, match.groupdict(), shift)
            part = array
            if rule.kind in ("kv0", "kv1"):
                axis = 1 if array.ndim == 2 else 0
                part = np.split(array, 2, axis=axis)[0 if rule.kind == "kv0" else 1]
            out[target] = part if rule.kind == "copy" else _linear(np.ascontiguousarray(part), key)
    if unknown:
        raise CheckpointError(f"{len(unknown)} key(s) have no {fmt.name} counterpart, e.g. {unknown[:5]}")
    return out


def detect(state: Mapping[str, object], formats: List[Format]) -> Optional[Format]:
    """The first format whose signature matches one of the keys."""
    for fmt in formats:
        pattern = re.compile(fmt.signature)
        if any(pattern.search(key) for key in state):
            return fmt
    return None
