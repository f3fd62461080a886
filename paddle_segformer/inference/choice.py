"""What runs inference, decided once from the options: a fast runtime, or the model itself on Paddle's
dynamic graph (PaddleSeg's ``infer`` / ``core.evaluate``), and why.

``auto`` picks the fastest runtime that is installed, in the order measured by
``scripts/bench_inference.py`` on this project's CPUs: OpenVINO, ONNX Runtime, Paddle Inference,
then Paddle's dynamic graph (with sessions specialised to repeated input shapes OpenVINO f32 took
87 / 521 ms for B0 / B3 at 512^2 where ONNX Runtime took 118 / 724). On a GPU it keeps Paddle's
dynamic graph (the CPU runtimes would be slower). bf16 runs through OpenVINO on CPUs with bf16
instructions (avx512_bf16 or AMX), int8 through OpenVINO on a model quantised by NNCF (any x86
CPU). Test-time augmentation, sliding windows and PaddleSeg's AUC-ROC run the model on the dynamic
graph: no runtime is started for them.

Light on purpose (no Paddle import): the flags and the choice are read before any model is built.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Optional, Tuple

from ..machine import cpu_info
from .memory import DYNAMIC
from .options import InferenceOptions, RuntimeOptions

logger = logging.getLogger(__name__)

AUTO_ORDER = ("openvino", "onnxruntime", "inference", "paddle")  # fastest first (bench_inference.py)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class RuntimeChoice:
    """The decision: fast runtimes to start (``candidates``, in order; under ``auto`` a runtime that fails
    to start hands over to the next) or none (``dynamic``: the model through PaddleSeg), ``reason`` why,
    and whether PaddleSeg's ``core.evaluate`` scores a dataset (``paddleseg_evaluate``, for AUC-ROC)."""

    options: RuntimeOptions
    candidates: Tuple[str, ...]
    reason: str
    paddleseg_evaluate: bool = False

    @property
    def dynamic(self) -> bool:
        """True when no fast runtime runs: the model itself, on Paddle's dynamic graph."""
        return not self.candidates

    @property
    def fallback(self) -> bool:
        """True when a runtime that cannot start is skipped for the next candidate (``auto``)."""
        return self.options.backend == "auto"

    def describe(self, name: Optional[str] = None) -> str:
        """The one log line: what runs (``name``, the candidate that started) and why."""
        if self.dynamic:
            return f"inference runtime: Paddle's dynamic graph through PaddleSeg ({self.reason})"
        return f"inference runtime: {name or self.candidates[0]}, {self.options.precision} ({self.reason})"


def cpu_has_bf16() -> bool:
    """True when /proc/cpuinfo lists avx512_bf16 or amx_bf16."""
    return any(flag in cpu_info()["flags"] for flag in BF16_FLAGS)


def installed(name: str) -> bool:
    """Whether the runtime ``name`` can be used here (its Python package is importable)."""
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino"}.get(name)
    if module is None:
        return True
    needs = [module, "paddle2onnx"]
    return all(importlib.util.find_spec(m) is not None for m in needs)


def check_int8(backend: str, device: str = "cpu") -> None:
    """int8 needs OpenVINO (and NNCF to quantise) on a CPU; say so before any work starts."""
    if backend != "openvino":
        raise ValueError(f"--precision int8 runs through OpenVINO on a model quantised by NNCF, not {backend}; "
                         "use --backend openvino or auto")
    if device.startswith("gpu"):
        raise ValueError("--precision int8 runs on the CPU through OpenVINO; a GPU is in use (--device cpu)")
    for module, pin in (("openvino", "openvino"), ("nncf", "nncf==3.4.0")):
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"--precision int8 needs {module}: pip install {pin}")


def check_precision(options: RuntimeOptions, backend: str, device: str = "cpu") -> None:
    """bf16 needs OpenVINO and a CPU with bf16 instructions, int8 OpenVINO and NNCF; say so before any work
    starts."""
    if options.precision == "int8":
        check_int8(backend, device)
    if options.precision != "bf16":
        return
    if backend != "openvino":
        raise ValueError(f"--precision bf16 for inference runs through OpenVINO, not {backend} "
                         "(Paddle 3.3.1 has no bf16 CPU matmul kernel); use --backend openvino or auto")
    if device.startswith("gpu") or not cpu_has_bf16():
        raise ValueError("--precision bf16 needs a CPU with bf16 instructions (avx512_bf16 or amx_bf16); "
                         "this one has neither: use --precision fp32")
    if not installed("openvino"):
        raise ValueError("--precision bf16 needs OpenVINO: pip install openvino")


def _dynamic_reason(test: Optional[InferenceOptions], auc_roc: bool) -> Optional[str]:
    """Why the model must run on the dynamic graph through PaddleSeg, or None when a runtime can."""
    if auc_roc:
        return "PaddleSeg's AUC-ROC: paddleseg.core.evaluate takes the dynamic-graph model"
    if test is not None and not test.plain:
        return "test-time augmentation / sliding window run through PaddleSeg's infer"
    return None


def _candidates(options: RuntimeOptions, device: str) -> Tuple[Tuple[str, ...], str]:
    """Runtimes to try in order, and why."""
    if options.backend != "auto":
        return (options.backend,), "asked for"
    if options.precision in ("bf16", "int8"):
        return ("openvino",), f"{options.precision} on a CPU runs through OpenVINO"
    if device.startswith("gpu"):
        return ("paddle",), "a GPU is in use (the CPU runtimes would be slower)"
    ready = tuple(name for name in AUTO_ORDER if installed(name))
    return ready, "fastest installed runtime (order measured by scripts/bench_inference.py)"


def choose_runtime(options: RuntimeOptions = RuntimeOptions(), test: Optional[InferenceOptions] = None,
                   device: str = "cpu", auc_roc: bool = False) -> RuntimeChoice:
    """The one place that decides what runs inference for ``options`` (the runtime flags), ``test`` (test-time
    augmentation / sliding window) on ``device``, with PaddleSeg's AUC-ROC or not. Raises ValueError for a
    precision the chosen runtime or this CPU cannot run; warns about runtime flags the choice leaves unused."""
    why = _dynamic_reason(test, auc_roc)
    if why is not None:
        unused = [f"--backend {options.backend}"] if options.backend not in ("auto", "paddle") else []
        unused += [f"--precision {options.precision}"] if options.precision != "fp32" else []
        if unused:
            logger.warning("%s on Paddle's dynamic graph; %s not used", why, " ".join(unused))
        return RuntimeChoice(options, (), why, paddleseg_evaluate=auc_roc)
    names, why = _candidates(options, device)
    for name in names:
        check_precision(options, name, device)
    return RuntimeChoice(options, names, why)
