"""INT8 accuracy control: NNCF's ``quantize_with_accuracy_control`` scored by mIoU on validation images, the
drop it recorded, and the refusal of an INT8 model that lost more than the limit.

:class:`Validation` holds the validation images (drawn evenly from the config's validation list, at most
``--int8_val``) and the scoring function the CLI builds from the predictor (so they are preprocessed, and the
logits turned into labels, exactly as inference does; the metric is the project's confusion matrix). NNCF
quantises, scores the float and INT8 models, and while the mIoU drop exceeds ``max_drop`` returns the
quantised layers that hurt most to floating point. The drop measured at the end is recorded in ``int8.json``
(:func:`accuracy_record`); :func:`check_drop` refuses a model whose record says it lost more than its limit.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    import openvino

logger = logging.getLogger(__name__)

Forward = Callable[[np.ndarray], np.ndarray]  # (1, C, h, w) float32 -> (1, K, h/4, w/4) logits
Score = Callable[[Forward, Sequence[Any]], Tuple[float, List[float]]]  # -> (mIoU, each item's mIoU)


def spread(count: int, total: int) -> List[int]:
    """``count`` indices (capped by ``total``) spread evenly over ``range(total)``, deterministically."""
    return [int(i) for i in np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))]


def list_digest(names: Sequence[str]) -> str:
    """sha256 (16 hex digits) of a list of names, in order (the files' paths, not their pixels)."""
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Validation:
    """Validation images for accuracy control: ``files`` (image and label paths, in the order used),
    ``read``: index into ``files`` -> item (what ``score`` takes), ``score(forward, items)`` -> (mIoU over the
    items, each item's mIoU) of a ``forward`` function."""

    files: Tuple[Tuple[str, str], ...]
    indices: Tuple[int, ...]
    read: Callable[[int], Any]
    score: Score

    @classmethod
    def draw(cls, files: Sequence[Tuple[str, str]], count: int, read: Callable[[int], Any],
             score: Score) -> "Validation":
        """``count`` of the (image, label) ``files`` (a validation list; capped by its length), spread evenly;
        ``read(i)`` reads the i-th of the whole list."""
        picks = spread(count, len(files))
        return cls(tuple((str(files[i][0]), str(files[i][1])) for i in picks), tuple(picks), read, score)

    def digest(self) -> str:
        """sha256 (16 hex digits) of the image and label paths, in order."""
        return list_digest([f"{image}\t{label}" for image, label in self.files])

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Any]:
        """The items, read when needed (NNCF goes over them several times)."""
        for index in self.indices:
            yield self.read(index)

    def nncf_fn(self) -> Callable[["openvino.CompiledModel", Sequence[Any]], Tuple[float, List[float]]]:
        """NNCF's ``validation_fn(compiled_model, items)`` -> (mIoU, each item's mIoU)."""
        return lambda compiled, items: self.score(lambda batch: compiled([batch])[0], list(items))

    def miou(self, compiled: "openvino.CompiledModel") -> float:
        """mIoU of an OpenVINO compiled model over all the validation images."""
        return float(self.nncf_fn()(compiled, self)[0])


def accuracy_record(validation: Optional[Validation], max_drop: float, float_miou: Optional[float] = None,
                    int8_miou: Optional[float] = None) -> Dict[str, Any]:
    """The ``accuracy`` entry of int8.json: float / INT8 mIoU, drop and limit on the validation images
    (their digest and count), or ``{"control": "no accuracy control"}`` without a validation list."""
    if validation is None or float_miou is None or int8_miou is None:
        return {"control": "no accuracy control", "limit": max_drop}
    return {"control": "nncf.quantize_with_accuracy_control", "float_miou": round(float_miou, 6),
            "int8_miou": round(int8_miou, 6), "drop": round(float_miou - int8_miou, 6), "limit": max_drop,
            "validation_digest": validation.digest(), "validation_count": len(validation)}


class Int8DropTooLarge(ValueError):
    """An INT8 model lost more mIoU against float32 than its limit allows (predict.py: exit status 2)."""


def check_drop(record: Dict[str, Any], source: str) -> None:
    """Refuse (:class:`Int8DropTooLarge`) the INT8 model of int8.json ``record`` (at ``source``) when its
    recorded mIoU drop exceeds its limit; a model made without accuracy control passes."""
    accuracy = record.get("accuracy") or {}
    drop, limit = accuracy.get("drop"), accuracy.get("limit")
    if drop is None or limit is None or drop <= limit:
        return
    raise Int8DropTooLarge(
        f"the INT8 model {source} lost {drop:.4f} mIoU against float32 ({accuracy['float_miou']:.4f} -> "
        f"{accuracy['int8_miou']:.4f} on {accuracy['validation_count']} validation images), more than the limit "
        f"{limit:g}: not predicting. Quantise with more calibration images (--calib), accept a larger drop "
        f"(--int8_max_drop), or use --precision fp32")
