"""Runtimes for the inference graph: one call, (N, C, H, W) normalised float32 -> (N, K, h, w) logits
at stride 4 (h = ceil(H / 4)), whichever engine computes it. Which one runs is decided in
:mod:`paddle_segformer.inference.choice`; :func:`start_runtime` starts it and logs the one line saying
what runs and why.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ..ops.bf16 import BF16_BITS, to_float32
from .artifacts import artifact
from .choice import RuntimeChoice, choose_runtime
from .graph import InferenceGraph
from .int8 import float_parts_precision
from .options import RuntimeOptions
from .shapes import ShapeSpecialised, symbolic_dims
from .upsample import set_threads

if TYPE_CHECKING:
    from .int8 import Calibration

logger = logging.getLogger(__name__)


class Backend:
    """Base: ``backend(batch)`` (N, C, H, W) -> stride-4 logits (N, K, h, w), C-contiguous or (OpenVINO) a
    view of channel-last memory; ``name`` and ``precision`` say what runs. ``calibration`` (images for
    int8) is used by OpenVINO only: the choice refuses int8 on the others."""

    name = "?"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None,
                 calibration: Optional["Calibration"] = None):
        self.num_classes = graph.num_classes
        self.align_corners = graph.align_corners
        self.precision = options.precision

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def label_logits(self, batch: np.ndarray) -> np.ndarray:
        """The logits of ``self(batch)`` as the label kernel may read them: here float32; OpenVINO's are bf16
        bits (:mod:`~paddle_segformer.ops.bf16`) where its last layer runs in bf16."""
        return self(batch)


class FunctionBackend(Backend):
    """A forward function ((N, C, H, W) -> stride-4 logits) as a runtime for a model of ``num_classes`` and
    ``align_corners``: NNCF's accuracy control scores its OpenVINO models through the predictor with it."""

    name = "function"

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], num_classes: int, align_corners: bool,
                 precision: str = "int8"):
        self.forward, self.num_classes, self.align_corners, self.precision = (forward, num_classes, align_corners,
                                                                              precision)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.forward(np.ascontiguousarray(batch, dtype=np.float32))


class PaddleBackend(Backend):
    """Paddle's dynamic graph running the folded inference graph (any device)."""

    name = "paddle"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None,
                 calibration: Optional["Calibration"] = None):
        super().__init__(graph, options, model_path)
        self.graph = graph

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            return self.graph(paddle.to_tensor(np.ascontiguousarray(batch, dtype=np.float32))).numpy()


class InferenceBackend(Backend):
    """Paddle Inference (oneDNN) on the cached static export."""

    name = "inference"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None,
                 calibration: Optional["Calibration"] = None):
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

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None,
                 calibration: Optional["Calibration"] = None):
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


def _channels_last_output(model, bf16: bool):
    """``model`` handing its (N, K, h, w) logits over channel-last, (N, h, w, K) memory, and with ``bf16``
    in bfloat16: the layout and precision its last convolution computes, so OpenVINO ends without a
    reorder (1.7 ms of B0's 512^2 INT8 run for the layout, 1.2-1.4 ms more for bf16 -> f32) and the label
    kernel reads a cell's K values side by side. The backends return them as a (N, K, h, w) view
    (:func:`_logits_view`)."""
    ov = import_openvino()
    steps = ov.preprocess.PrePostProcessor(model)
    steps.output().model().set_layout(ov.Layout("NCHW"))
    steps.output().tensor().set_layout(ov.Layout("NHWC"))
    if bf16:
        steps.output().tensor().set_element_type(ov.Type.bf16)
    return steps.build()


def _logits_view(output: np.ndarray, bf16: bool) -> np.ndarray:
    """(N, h, w, K) output of a model compiled through :func:`_channels_last_output` -> (N, K, h, w) view;
    bf16 as its bits (OpenVINO hands bf16 over in a float16-typed array)."""
    return np.moveaxis(output.view(BF16_BITS) if bf16 else output, -1, 1)


class OpenVinoBackend(Backend):
    """OpenVINO (CPU plugin) on the cached ONNX conversion (f32 or bf16 inference precision) or on its
    cached INT8 quantisation (:mod:`.int8`, made with ``calibration`` on first use); a model compiled for the
    input shape once a shape repeats (:mod:`.shapes`)."""

    name = "openvino"

    def __init__(self, graph: InferenceGraph, options: RuntimeOptions, model_path: Optional[str] = None,
                 calibration: Optional["Calibration"] = None):
        super().__init__(graph, options, model_path)
        ov = import_openvino()
        folder = artifact(graph, graph.backbone.in_channels, "onnx", model_path, options.cache_dir)
        self.core, self.path = ov.Core(), str(folder / "model.onnx")
        self.int8_record: Optional[dict] = None  # int8.json of the INT8 model (how it was made, its mIoU drop)
        hint = "bf16" if options.precision == "bf16" else "f32"
        parts = float_parts_precision(self.core)  # bf16 where this CPU runs it, else f32 (asked once)
        if options.precision == "int8":
            from ..machine import cpu_info
            from .int8 import QuantSettings, int8_model, read_record, warn_if_slow

            warn_if_slow(cpu_info()["flags"])
            settings = QuantSettings(max_drop=options.int8_max_drop, float_parts=parts)
            path = int8_model(self.core, folder, calibration, settings, model_path, options.cache_dir)
            self.path, self.int8_record, hint = str(path), read_record(path), settings.float_parts
        self.config = {"INFERENCE_NUM_THREADS": options.thread_count(), "PERFORMANCE_HINT": "LATENCY",
                       "INFERENCE_PRECISION_HINT": hint}
        # where the last layer computes in bf16 (an INT8 model's logits layer is left in float: bf16 here),
        # its output is handed over as it is, not converted to float32 at the end of the graph
        self.bf16_out = hint == "bf16" and parts == "bf16"
        self.sessions = ShapeSpecialised(self._compile(None), self._compile)
        self.streamed: Dict[int, "StreamsBackend"] = {}  # see streams()

    def _compile(self, shape: Optional[Tuple[int, ...]]):
        model = self.core.read_model(self.path)
        if shape is not None:
            model.reshape(list(shape))
        return self.core.compile_model(_channels_last_output(model, self.bf16_out), "CPU", self.config)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return to_float32(self.label_logits(batch))

    def label_logits(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return _logits_view(self.sessions.runner_for(batch.shape)([batch])[0], self.bf16_out)

    def streams(self, lanes: int) -> "StreamsBackend":
        """This model on ``lanes`` OpenVINO streams, for as many callers at once (made once per count)."""
        if lanes not in self.streamed:
            self.streamed[lanes] = StreamsBackend(self, lanes)
        return self.streamed[lanes]


class StreamsBackend(Backend):
    """``base``'s OpenVINO model compiled with ``lanes`` streams (``base``'s threads divided between them);
    each calling thread runs its own infer request, so ``lanes`` threads may call it at once."""

    def __init__(self, base: OpenVinoBackend, lanes: int):
        self.name, self.precision = base.name, base.precision
        self.num_classes, self.align_corners = base.num_classes, base.align_corners
        self.core, self.path, self.bf16_out = base.core, base.path, base.bf16_out
        self.config = {key: value for key, value in base.config.items() if key != "PERFORMANCE_HINT"}
        self.config["NUM_STREAMS"] = lanes
        self.threads = max(1, int(base.config["INFERENCE_NUM_THREADS"]) // lanes)
        self.sessions = ShapeSpecialised(self._compile(None), self._compile)
        self.lock = threading.Lock()  # the sessions' bookkeeping (a compile at most once per shape)
        self.local = threading.local()

    _compile = OpenVinoBackend._compile
    __call__ = OpenVinoBackend.__call__  # float32 of label_logits, as the base model's

    def label_logits(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self.lock:
            compiled = self.sessions.runner_for(batch.shape)
        requests = self.local.__dict__.setdefault("requests", {})
        if requests.get("compiled") is not compiled:  # this thread's request on the current session
            requests.update(compiled=compiled, request=compiled.create_infer_request())
        return _logits_view(requests["request"].infer([batch])[0], self.bf16_out)


CLASSES = {cls.name: cls for cls in (PaddleBackend, InferenceBackend, OnnxRuntimeBackend, OpenVinoBackend)}


def start_runtime(model: nn.Layer, choice: RuntimeChoice, model_path: Optional[str] = None,
                  calibration: Optional["Calibration"] = None) -> Optional[Backend]:
    """The runtime ``choice`` names for a loaded ``model`` (None when the model runs on the dynamic graph
    through PaddleSeg); one log line says what runs and why. ``calibration``: images for int8.

    Exports and conversions are made on first use and cached (paddle_segformer.inference.artifacts).
    Under ``auto`` a runtime that fails to start is logged and the next candidate tried.
    """
    if choice.dynamic:
        logger.info(choice.describe())
        return None
    graph = InferenceGraph(model)
    set_threads(choice.options.thread_count())  # the label kernel that follows every runtime
    errors = []
    for name in choice.candidates:
        try:
            backend = CLASSES[name](graph, choice.options, model_path, calibration)
        except Exception as exc:  # an optional runtime that cannot start: try the next one under auto
            if not choice.fallback:
                raise
            logger.warning("runtime %s could not start (%s); trying the next one", name, exc)
            errors.append(f"{name}: {exc}")
            continue
        logger.info(choice.describe(name))
        return backend
    raise RuntimeError("no inference runtime could start: " + "; ".join(errors))


def create_backend(model: nn.Layer, options: RuntimeOptions = RuntimeOptions(), model_path: Optional[str] = None,
                   device: str = "cpu", calibration: Optional["Calibration"] = None) -> Backend:
    """The fast runtime ``options`` ask for (``auto``: the fastest that works here) for a loaded ``model``:
    :func:`start_runtime` of :func:`~paddle_segformer.inference.choice.choose_runtime`."""
    return start_runtime(model, choose_runtime(options, device=device), model_path, calibration)
