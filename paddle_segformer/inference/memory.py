"""Peak memory of one forward pass, known before the pass starts, and the budget it is held to.

SegFormer's stage-1 attention holds heads x (H/4 * W/4) x (H/32 * W/32) scores (sequence reduction
8): where a runtime materialises them, memory grows with the fourth power of the side.
:func:`estimate_forward_bytes` derives the peak from the model's shape (every stage's attention
scores, the Mix-FFN hidden map, the decoder's stride-4 maps, the logits) and the post-processing this
package does in numpy (the label kernel's per-pixel candidate lists, the labels); how many copies of
each a runtime holds comes from measured peaks (:data:`COEFFICIENTS`; ``scripts/bench_memory.py``
measures, ``tests/test_memory.py`` checks one). Importable without paddle.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..io.paths import format_size

logger = logging.getLogger(__name__)

FLOAT = 4  # bytes of a float32
DEFAULT_FRACTION = 0.5  # of MemAvailable: the machine is shared, and the estimate is not a bound


class MemoryRefused(MemoryError):
    """An input whose forward pass would not fit the memory budget (and cannot be tiled where it arose)."""


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on: per stage (4) width, heads, spatial reduction and Mix-FFN width; the
    decoder width and the class count."""

    embed_dims: Tuple[int, ...]
    num_heads: Tuple[int, ...]
    sr_ratios: Tuple[int, ...]
    hidden_dims: Tuple[int, ...]
    decoder_dim: int
    num_classes: int

    @classmethod
    def of_variant(cls, spec, num_classes: int, decoder_dim: Optional[int] = None) -> "ModelShape":
        """From a :class:`~paddle_segformer.variants.MiTSpec` (the variant table)."""
        hidden = tuple(int(d * r) for d, r in zip(spec.embed_dims, spec.mlp_ratios))
        return cls(tuple(spec.embed_dims), tuple(spec.num_heads), tuple(spec.sr_ratios), hidden,
                   decoder_dim or spec.decoder_dim, num_classes)

    def to_dict(self) -> Dict[str, list]:
        """Plain lists and ints (for deploy.yaml); :meth:`from_dict` reads it back."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Dict[str, object]) -> "ModelShape":
        return cls(**{k: tuple(v) if isinstance(v, list) else int(v) for k, v in data.items()})

    @classmethod
    def of_model(cls, model) -> "ModelShape":
        """From a built SegFormer (reads its first block per stage: a model rebuilt with other
        ``sr_ratios`` is described as it is)."""
        backbone = model.backbone
        stages = [getattr(backbone, f"block{i + 1}")[0] for i in range(4)]
        return cls(tuple(b.attn.dim for b in stages), tuple(b.attn.num_heads for b in stages),
                   tuple(b.attn.sr_ratio for b in stages), tuple(b.mlp.fc1.weight.shape[1] for b in stages),
                   int(model.linear_pred.weight.shape[1]), int(model.num_classes))


@dataclass(frozen=True)
class Coefficients:
    """Live float32 copies, per stride-4 position (h1 * w1 of them), that a runtime's peak holds of each
    structural term: the largest attention-score tensor (``scores``, per its own element count), the
    stage-1 Mix-FFN hidden map (``hidden`` per channel), the decoder's D-channel map (``decoder`` per
    channel), the logits (``logits`` per class), and what does not depend on the model (``pixels``:
    input copies, tokens, the patch embedding); ``full_logits``: copies of the K-class logits at full
    resolution, where the graph upsamples them (the dynamic model, an export)."""

    scores: float
    hidden: float
    decoder: float
    logits: float
    pixels: float
    full_logits: float = 0.0


# Fitted to peaks measured on this project's CPU (scripts/bench_memory.py; one pass in a fresh process,
# forward + labels; B0 / B3, 4 and 150 classes, sides 512-1536; estimate / peak 0.82-1.0 except B3 at
# 768^2 on OpenVINO, 1.75: over, the safe side). The runtimes differ in kind, not only in degree:
# - OpenVINO fuses attention (its SDPA kernel) and never holds the score matrix: its peak grows with
#   the pixel count, not with its square (B0 at 1536^2: 1.05 GiB where the stage-1 scores alone would
#   be 1.3 GiB), even with full attention (sr 1).
# - ONNX Runtime and Paddle's dynamic graph hold the scores (matmul, scale, softmax; Paddle's allocator
#   reuses part of the freed blocks): the fourth power of the side.
DYNAMIC = "dynamic"  # the model on Paddle's dynamic graph through PaddleSeg (no fast runtime)
COEFFICIENTS: Dict[str, Coefficients] = {
    "openvino": Coefficients(scores=0.0, hidden=3.0, decoder=3.5, logits=2.2, pixels=50.0),
    # ONNX Runtime holds the scores too (fitted on B0 at 1024^2 and 1536^2 only: 2.9 GiB at 1536^2)
    "onnxruntime": Coefficients(scores=2.15, hidden=0.0, decoder=0.0, logits=0.0, pixels=0.0),
    "paddle": Coefficients(scores=1.7, hidden=1.0, decoder=1.0, logits=1.5, pixels=0.0),
    # Paddle Inference: not measured; taken as the dynamic graph's scores with OpenVINO's other buffers
    "inference": Coefficients(scores=1.7, hidden=3.0, decoder=3.5, logits=2.2, pixels=50.0),
    # the model as trained (test-time augmentation, sliding window) and a static export of it: the
    # article's decoder (4D-channel concat) and full-resolution logits; not fitted (assumed: two score
    # copies, the concat, three full-resolution logit copies)
    DYNAMIC: Coefficients(scores=2.0, hidden=3.0, decoder=8.0, logits=2.0, pixels=50.0, full_logits=3.0),
    "export": Coefficients(scores=2.0, hidden=3.0, decoder=8.0, logits=2.0, pixels=50.0, full_logits=3.0),
}


def _sides(height: int, width: int) -> list:
    """[(h_i, w_i)] of the four stages: ceil(H/4), then ceil(h/2) (overlapping patch embeddings)."""
    h, w = -(-height // 4), -(-width // 4)
    sides = [(h, w)]
    for _ in range(3):
        h, w = -(-h // 2), -(-w // 2)
        sides.append((h, w))
    return sides


def forward_terms(height: int, width: int, shape: ModelShape, batch: int = 1) -> Dict[str, int]:
    """Float32 element counts of the tensors that decide the peak (see :class:`Coefficients`) and the
    exact bytes (``post``) of the numpy post-processing of one (height x width) input."""
    sides = _sides(height, width)
    scores, hidden = 0, 0
    for (h, w), heads, sr, hid in zip(sides, shape.num_heads, shape.sr_ratios, shape.hidden_dims):
        keys = (h // sr) * (w // sr) if sr > 1 else h * w  # stage i: heads x (h w) x (h/sr w/sr)
        scores = max(scores, heads * h * w * keys)
        hidden = max(hidden, h * w * hid)
    n1 = sides[0][0] * sides[0][1]
    k = shape.num_classes
    # upsample_labels: a channel-last float32 copy of the logits (not for OpenVINO's, counted anyway), low-res
    # argmax int32, labels (H, W) int32
    post = n1 * (k * 4 + 4) + height * width * 4
    terms = {"scores": scores, "hidden": hidden, "decoder": n1 * shape.decoder_dim, "logits": n1 * k,
             "pixels": n1, "full_logits": height * width * k, "post": post}
    return {name: batch * value for name, value in terms.items()}


def estimate_forward_bytes(height: int, width: int, shape: ModelShape, backend: str = "openvino",
                           batch: int = 1) -> int:
    """Peak memory (bytes, beyond what the process held before) of predicting a (batch, C, height,
    width) input with ``backend``: the runtime's forward pass to stride-4 logits and the labels (for
    ``dynamic`` / ``export``: the model's full-resolution logits instead of the label kernel)."""
    coef = COEFFICIENTS.get(backend, COEFFICIENTS[DYNAMIC])
    terms = forward_terms(height, width, shape, batch)
    copies = sum(getattr(coef, name) * terms[name] for name in ("scores", "hidden", "decoder", "logits", "pixels"))
    if coef.full_logits:
        return int(FLOAT * (copies + coef.full_logits * terms["full_logits"]))
    return int(FLOAT * copies + terms["post"])


_UNITS = {"": 1, "B": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5g', '4GiB', '800000000' -> bytes (binary units)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
    if not match:
        raise ValueError(f"memory size {text!r}: expected a number with an optional unit K/M/G/T, e.g. 4G or 512M")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ValueError(f"memory size {text!r} must be positive")
    return int(value)


def available_bytes() -> Optional[int]:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class MemoryBudget:
    """The most one forward pass may take, and where that number came from (for log lines)."""

    limit: int
    origin: str

    @classmethod
    def create(cls, max_memory: Optional[str] = None, fraction: float = DEFAULT_FRACTION) -> "MemoryBudget":
        """``max_memory`` ('4G', '512M') when given, else ``fraction`` of the memory available now."""
        if max_memory:
            return cls(parse_size(max_memory), "--max_memory")
        available = available_bytes()
        if available is None:
            return cls(2 ** 62, "no /proc/meminfo: unbounded")
        return cls(int(available * fraction), f"{fraction:.0%} of the {format_size(available)} available")

    def __str__(self) -> str:
        return f"{format_size(self.limit)} ({self.origin})"


@dataclass(frozen=True)
class MemoryPlan:
    """What a model does with a given input size under a budget: ``estimate`` bytes of one pass;
    ``fits`` whether that is within the budget."""

    estimate: int
    budget: MemoryBudget

    @property
    def fits(self) -> bool:
        return self.estimate <= self.budget.limit

    def reason(self, height: int, width: int) -> str:
        return (f"one forward pass at {width}x{height} needs about {format_size(self.estimate)}, over the memory "
                f"budget of {self.budget}")


class MemoryGuard:
    """Estimates for one model and runtime against one budget; picks a tile size that fits."""

    def __init__(self, shape: ModelShape, budget: MemoryBudget, backend: str = "openvino"):
        self.shape, self.budget, self.backend = shape, budget, backend

    def plan(self, height: int, width: int, batch: int = 1) -> MemoryPlan:
        return MemoryPlan(estimate_forward_bytes(height, width, self.shape, self.backend, batch), self.budget)

    def tile_size(self, largest: int = 1024, smallest: int = 64, batch: int = 1) -> int:
        """The largest square tile (multiple of 32, from ``largest`` down to ``smallest``) whose pass fits."""
        for side in range(largest, smallest - 1, -32):
            if self.plan(side, side, batch).fits:
                return side
        raise MemoryError(f"even a {smallest}x{smallest} tile needs about "
                          f"{format_size(self.plan(smallest, smallest, batch).estimate)}, over the memory "
                          f"budget of {self.budget}")

    def largest_side(self, upto: int = 1 << 16) -> int:
        """The largest square side (multiple of 32) whose pass fits (0 if none)."""
        lo, hi = 0, upto // 32
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.plan(mid * 32, mid * 32).fits else (lo, mid - 1)
        return lo * 32


def tile_overlap(tile: int) -> int:
    """Default overlap of automatic tiles: 1/8 of the tile, a multiple of 4 (the model's stride)."""
    return max(4, int(math.floor(tile / 8 / 4)) * 4)
