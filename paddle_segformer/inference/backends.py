"""Runtimes for the inference graph: one call, (N, C, H, W) normalised float32 -> (N, K, h, w) logits
at stride 4 (h = ceil(H / 4)), whichever engine computes it.

``auto`` picks the fastest runtime that is installed, in the order measured by
``scripts/bench_inference.py`` on this project's CPUs: OpenVINO, ONNX Runtime, Paddle Inference,
then Paddle's dynamic graph (with sessions specialised to repeated input shapes OpenVINO f32 took
87 / 521 ms for B0 / B3 at 512^2 where ONNX Runtime took 118 / 724). On a GPU it keeps Paddle's
dynamic graph (the CPU runtimes would be slower). bf16 runs through OpenVINO on CPUs with bf16
instructions (avx512_bf16 or AMX).
"""
from __future__ import annotations

import importlib.util
import logging
from typing import Dict, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ..machine import cpu_info
from .artifacts import artifact
from .graph import InferenceGraph
from .options import BACKENDS, PRECISIONS, RuntimeOptions  # noqa: F401  (BACKENDS, PRECISIONS: re-exported)
from .shapes import ShapeSpecialised, symbolic_dims
from .upsample import set_threads

logger = logging.getLogger(__name__)

AUTO_ORDER = ("openvino", "onnxruntime", "inference", "paddle")  # fastest first (bench_inference.py)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


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


class Backend:
    """Base: ``backend(batch)`` -> stride-4 logits; ``name`` and ``precision`` say what runs."""

    name = "?"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None):
        self.num_classes = graph.num_classes
        self.align_corners = graph.align_corners
        self.precision = options.precision

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class PaddleBackend(Backend):
    """Paddle's dynamic graph running the folded inference graph (any device)."""

    name = "paddle"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None):
        super().__init__(graph, options, model_path)
        self.graph = graph

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            return self.graph(paddle.to_tensor(np.ascontiguousarray(batch, dtype=np.float32))).numpy()


class InferenceBackend(Backend):
    """Paddle Inference (oneDNN) on the cached static export."""

    name = "inference"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None):
        super().__init__(graph, options, model_path)
        from .static import StaticPredictor

        folder = artifact(graph, graph.backbone.in_channels, "paddle", model_path, options.cache_dir)
        self.predictor = StaticPredictor(str(folder), threads=options.thread_count())

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.predictor.run(batch)


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime (CPU execution provider, all graph optimisations) on the cached ONNX conversion;
    a session specialised to the input shape once a shape repeats (:mod:`.shapes`)."""

    name = "onnxruntime"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None):
        super().__init__(graph, options, model_path)
        folder = artifact(graph, graph.backbone.in_channels, "onnx", model_path, options.cache_dir)
        self.path, self.threads = str(folder / "model.onnx"), options.thread_count()
        dynamic = self._session({})
        self.input = dynamic.get_inputs()[0]
        self.sessions = ShapeSpecialised(dynamic,
                                         lambda shape: self._session(symbolic_dims(self.input.shape, shape)))

    def _session(self, dims: Dict[str, int]):
        import onnxruntime as ort

        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.threads
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = 3  # paddle2onnx leaves an unused initialiser: not worth a warning
        # ORT's idle threads spin after each run and slowed the label kernel that follows by 2x (50 -> 25 ms,
        # B0 at 512^2); the network itself ran no slower without spinning.
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        for name, size in dims.items():
            session_options.add_free_dimension_override_by_name(name, size)
        return ort.InferenceSession(self.path, session_options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.sessions.runner_for(batch.shape).run(None, {self.input.name: batch})[0]


def import_openvino():
    """``import openvino`` without its usage telemetry. OpenVINO's model converter (imported with the package)
    loads ``openvino_telemetry``, which, with no consent file, sends usage data from a process forked off a
    thread (numba then prints "Attempted to fork from a non-main thread" on every predict / val run). Only
    the runtime is used here, so the converter gets the stub it falls back to when that package is missing."""
    import sys

    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # None: `import openvino_telemetry` -> ImportError
    import openvino

    return openvino


class OpenVinoBackend(Backend):
    """OpenVINO (CPU plugin) on the cached ONNX conversion; f32 or bf16 inference precision; a model
    compiled for the input shape once a shape repeats (:mod:`.shapes`)."""

    name = "openvino"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None):
        super().__init__(graph, options, model_path)
        ov = import_openvino()
        folder = artifact(graph, graph.backbone.in_channels, "onnx", model_path, options.cache_dir)
        self.core, self.path = ov.Core(), str(folder / "model.onnx")
        self.config = {"INFERENCE_NUM_THREADS": options.thread_count(), "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_PRECISION_HINT": "bf16" if options.precision == "bf16" else "f32"}
        self.sessions = ShapeSpecialised(self._compile(None), self._compile)

    def _compile(self, shape: Optional[Tuple[int, ...]]):
        model = self.core.read_model(self.path)
        if shape is not None:
            model.reshape(list(shape))
        return self.core.compile_model(model, "CPU", self.config)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.sessions.runner_for(batch.shape)([batch])[0]


CLASSES = {cls.name: cls for cls in (PaddleBackend, InferenceBackend, OnnxRuntimeBackend, OpenVinoBackend)}


def _candidates(options: RuntimeOptions, device: str) -> tuple:
    """Backends to try in order, and why (for the one log line of ``auto``)."""
    if options.backend != "auto":
        return (options.backend,), "asked for"
    if options.precision == "bf16":
        return ("openvino",), "bf16 on a CPU runs through OpenVINO"
    if device.startswith("gpu"):
        return ("paddle",), "a GPU is in use (the CPU runtimes would be slower)"
    ready = tuple(name for name in AUTO_ORDER if installed(name))
    return ready, "fastest installed runtime (order measured by scripts/bench_inference.py)"


def check_precision(options: RuntimeOptions, backend: str, device: str = "cpu") -> None:
    """bf16 needs OpenVINO and a CPU with bf16 instructions; say so before any work starts."""
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


def create_backend(model: nn.Layer, options: RuntimeOptions = RuntimeOptions(), model_path: Optional[str] = None,
                   device: str = "cpu") -> Backend:
    """The runtime ``options`` ask for (``auto``: the fastest that works here) for a loaded ``model``.

    Exports and conversions are made on first use and cached (paddle_segformer.inference.artifacts).
    With ``auto`` a runtime that fails to start is logged and the next one tried.
    """
    graph = InferenceGraph(model)
    set_threads(options.thread_count())  # the label kernel that follows every runtime
    names, why = _candidates(options, device)
    for name in names:
        check_precision(options, name, device)
    errors = []
    for name in names:
        try:
            backend = CLASSES[name](graph, options, model_path)
        except Exception as exc:  # an optional runtime that cannot start: try the next one under auto
            if options.backend != "auto":
                raise
            logger.warning("runtime %s could not start (%s); trying the next one", name, exc)
            errors.append(f"{name}: {exc}")
            continue
        logger.info("inference runtime: %s, %s (%s)", name, options.precision, why)
        return backend
    raise RuntimeError("no inference runtime could start: " + "; ".join(errors))
