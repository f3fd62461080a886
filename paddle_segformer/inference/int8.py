"""INT8 inference: NNCF's post-training quantisation of the folded ONNX graph, run by OpenVINO.

The graph of :mod:`~paddle_segformer.inference.graph` (converted to ONNX by
:mod:`~paddle_segformer.inference.artifacts`) is read by OpenVINO and quantised by ``nncf.quantize``
with ``ModelType.TRANSFORMER`` (NNCF then keeps LayerNorm, softmax and the attention's elementwise
ops in floating point), fast bias correction, and statistics from calibration images preprocessed
exactly as inference preprocesses them (the predictor's own ``load``). The quantised model is cached
beside the other artifacts under ``<weights key>/int8-<key>/`` (``model.xml`` + ``model.bin`` and
``int8.json`` saying how it was made and what it lost), keyed by the calibration file list, the calibration
count, the validation images and the quantisation settings, so it is made once. With validation images
(the config's validation list) ``nncf.quantize_with_accuracy_control`` keeps the mIoU drop within
``QuantSettings.max_drop`` (:mod:`.int8_accuracy`). NNCF is imported only here, only when int8 is asked for.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..io.atomic import atomic_write_bytes
from .int8_accuracy import Validation, accuracy_record, list_digest, spread

if TYPE_CHECKING:
    import openvino

logger = logging.getLogger(__name__)

QUANT_VERSION = 4  # bump when the quantisation recipe changes: old INT8 models then stop matching
MARKER = "model.xml"
RECORD = "int8.json"


@dataclass(frozen=True)
class Calibration:
    """Calibration images: ``files`` (paths, in the order used) and ``load``: path -> (C, h, w) float32,
    the normalised model input exactly as inference makes it; ``validation``: the validation images NNCF's
    accuracy control scores (None: the config has no validation list, plain ``nncf.quantize``)."""

    files: Tuple[str, ...]
    load: Callable[[str], np.ndarray]
    validation: Optional[Validation] = None

    @classmethod
    def draw(cls, files: Sequence[str], count: int, load: Callable[[str], np.ndarray],
             validation: Optional[Validation] = None) -> "Calibration":
        """``count`` files (capped by the list's length) spread evenly over ``files`` (a training list),
        deterministically: the same list and count always give the same images."""
        if not files:
            raise ValueError("--precision int8 needs calibration images: the config's training list is empty")
        if count < 1:
            raise ValueError(f"--calib must be at least 1, got {count}")
        return cls(tuple(str(files[i]) for i in spread(count, len(files))), load, validation)

    def digest(self) -> str:
        """sha256 (16 hex digits) of the file list (paths, in order; not the pixels)."""
        return list_digest(self.files)

    def __iter__(self) -> Iterator[np.ndarray]:
        """One (1, C, h, w) float32 batch per file, read when needed (NNCF goes over them more than once)."""
        for path in self.files:
            yield np.ascontiguousarray(self.load(path)[np.newaxis], dtype=np.float32)


@dataclass(frozen=True)
class QuantSettings:
    """How the graph is quantised: NNCF's model type, preset, fast bias correction, and whether the head's
    last layer (the 1x1 conv to class logits) stays in floating point."""

    model_type: str = "transformer"
    preset: str = "mixed"  # NNCF's default for transformers: activations asymmetric
    fast_bias_correction: bool = True
    # The head's last layer in float: on a B0 trained 40 iterations on 128 px synthetic tiles (40 calibration,
    # 20 held-out tiles, 327,680 pixels) 0.9981 of the labels equal float32's with it, 0.9898 with it quantised
    # too (64 px tiles: 0.9963 / 0.9958). It decides between near-tied classes at every pixel; its 1x1 conv at
    # stride 4 is a small part of the compute. Fast bias correction on or off measured the same (0.9981 /
    # 0.9982); it stays on (NNCF's default). LayerNorm, softmax and the attention's elementwise ops are left in
    # float by ModelType.TRANSFORMER (measured only as a whole, not one by one).
    float_logits: bool = True
    # NNCF's accuracy control (with a validation list): the largest absolute mIoU drop against float32 it accepts
    max_drop: float = 0.01
    # validation images NNCF ranks the quantised layers on (those INT8 hurts most); None: all of them
    ranking_subset: Optional[int] = 16
    # OpenVINO's precision for what stays in floating point (LayerNorm, softmax, attention, the logits layer):
    # bf16 where the CPU has it (:func:`float_parts_precision`). scripts/bench_inference.py-style probe, B3 at
    # 512^2, model only, interleaved: INT8 with f32 parts 348 ms, with bf16 parts 292 ms, float32 584 ms (B0:
    # 89 / 84 / 110). The recorded INT8 mIoU is measured with it, so the recorded drop is that of what runs.
    float_parts: str = "f32"


# oneDNN's ONEDNN_MAX_CPU_ISA values (lower case) under which bf16 arithmetic is still allowed; any other
# value (avx2, avx512_core_vnni, ...) caps the CPU below bf16, though OpenVINO still reports BF16 then
BF16_ISAS = ("all", "default", "avx512_core_bf16", "avx512_core_fp16", "avx512_core_amx", "avx512_core_amx_fp16",
             "avx10_1_512", "avx10_1_512_amx", "avx10_1_512_amx_fp16")


def float_parts_precision(core: "openvino.Core") -> str:
    """``bf16`` when OpenVINO's CPU plugin reports BF16 among its capabilities (AVX-512 bf16 / AMX) and no
    ``ONEDNN_MAX_CPU_ISA`` caps the CPU below it, else ``f32``: the precision an INT8 model's floating-point
    layers run in."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    if cap and cap not in BF16_ISAS:
        return "f32"
    return "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


# CPU flags with 8-bit dot-product instructions (vpdpbusd, AMX tiles), and oneDNN ISA caps that hide them
VNNI_FLAGS = ("avx_vnni", "avx512_vnni", "amx_int8")
NO_VNNI_ISAS = ("sse41", "avx", "avx2", "avx512_core")


def slow_int8_reason(flags: Sequence[str], isa_cap: str = "") -> Optional[str]:
    """Why INT8 will be slower than float32 here, or None: no 8-bit dot-product instructions among the CPU's
    ``flags`` (:func:`~paddle_segformer.machine.cpu_info`), or an ``ONEDNN_MAX_CPU_ISA`` cap below them."""
    cap = isa_cap.strip().lower()
    if cap in NO_VNNI_ISAS:
        return f"ONEDNN_MAX_CPU_ISA={cap} hides the CPU's 8-bit dot-product instructions (VNNI)"
    if not any(flag in flags for flag in VNNI_FLAGS):
        return "this CPU has no 8-bit dot-product instructions (no avx_vnni, avx512_vnni or amx_int8)"
    return None


def warn_if_slow(flags: Sequence[str]) -> None:
    """A warning where INT8 runs slower than float32 (under an AVX2 cap: 0.84x at B0, 0.62x at B3, end to end,
    README)."""
    reason = slow_int8_reason(flags, os.environ.get("ONEDNN_MAX_CPU_ISA", ""))
    if reason:
        logger.warning("--precision int8: %s; INT8 measured slower than float32 on such a CPU (README, Speed): "
                       "use --precision fp32 here", reason)


def int8_key(calibration: Calibration, settings: QuantSettings) -> str:
    """Folder name of the INT8 model for these calibration images and settings (the weights' key is the
    parent folder): ``int8-`` + sha256 of the file list, its length, the validation images (accuracy control),
    the settings (the drop limit among them) and the versions."""
    import nncf
    import openvino

    validation = calibration.validation
    checked = f"{validation.digest()}|{len(validation)}" if validation is not None else "none"
    facts = (f"q{QUANT_VERSION}|files={calibration.digest()}|n={len(calibration.files)}|val={checked}"
             f"|{json.dumps(asdict(settings), sort_keys=True)}|nncf={nncf.__version__}"
             f"|openvino={openvino.__version__}|shape=dynamic")
    return "int8-" + hashlib.sha256(facts.encode()).hexdigest()[:16]


def read_folded(core: "openvino.Core", onnx_path: str) -> "openvino.Model":
    """The ONNX graph at ``onnx_path`` read by ``core`` with its constant subgraphs folded (OpenVINO's
    ConstantFolding pass; ``read_model`` leaves them, the CPU plugin folds them only when compiling).
    OpenVINO's ONNX reader gives every depth-wise conv (Mix-FFN) a GroupConvolution whose kernel is
    Reshape(constant): unfolded, NNCF finds no weight there and leaves the conv in floating point, with
    8-12 ms of dequantise and reorder around it (B0 at 512^2)."""
    from openvino import passes

    model = core.read_model(onnx_path)
    manager = passes.Manager()
    manager.register_pass(passes.ConstantFolding())
    manager.run_passes(model)
    return model


def logits_layer(model: "openvino.Model") -> List[str]:
    """Friendly name of the last Convolution before the output of an OpenVINO ``model`` (the head's
    ``linear_pred``: stride-4 features -> K class logits), found by walking up from the result."""
    node = model.get_results()[0].input_value(0).get_node()
    while node.get_type_name() != "Convolution":
        if node.get_input_size() == 0:
            raise ValueError("no Convolution before the model's output: not the folded SegFormer graph")
        node = node.input_value(0).get_node()
    return [node.get_friendly_name()]


@contextmanager
def quiet_nncf() -> Iterator[None]:
    """NNCF's own progress bars (rich, on its global console) and INFO lines silenced while quantising (its
    warnings still show); our log says what is going on instead."""
    import nncf
    import rich

    console = rich.get_console()
    quiet, level = console.quiet, logging.getLogger("nncf").level
    console.quiet = True
    nncf.set_log_level(logging.WARNING)
    try:
        yield
    finally:
        console.quiet = quiet
        nncf.set_log_level(level)


def quantize(core: "openvino.Core", onnx_path: str, calibration: Calibration,
             settings: QuantSettings) -> Tuple["openvino.Model", Dict[str, Any]]:
    """The ONNX graph at ``onnx_path`` read by ``core`` (an ``openvino.Core``) quantised -> (the INT8
    ``openvino.Model``, int8.json's ``accuracy`` entry): ``nncf.quantize_with_accuracy_control`` (max absolute
    mIoU drop ``settings.max_drop``) when ``calibration`` has validation images, else ``nncf.quantize``."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    model = read_folded(core, onnx_path)
    ignored = nncf.IgnoredScope(names=logits_layer(model)) if settings.float_logits else nncf.IgnoredScope()
    common = dict(preset=nncf.QuantizationPreset(settings.preset), subset_size=len(calibration.files),
                  fast_bias_correction=settings.fast_bias_correction, ignored_scope=ignored,
                  model_type=nncf.ModelType.TRANSFORMER if settings.model_type == "transformer" else None)
    validation = calibration.validation
    with quiet_nncf():
        if validation is None:
            return (nncf.quantize(model, nncf.Dataset(calibration), **common),
                    accuracy_record(None, settings.max_drop))
        quantized = nncf.quantize_with_accuracy_control(
            model, nncf.Dataset(calibration), nncf.Dataset(validation), validation.nncf_fn(),
            max_drop=settings.max_drop, drop_type=nncf.DropType.ABSOLUTE, **common,
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                ranking_subset_size=settings.ranking_subset))
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}  # float32's reference (the CPU default may be bf16)
    float_miou = validation.miou(core.compile_model(core.read_model(onnx_path), "CPU", f32))
    # the INT8 model as the backend runs it: its floating-point layers in settings.float_parts
    as_run = {"INFERENCE_PRECISION_HINT": settings.float_parts}
    int8_miou = validation.miou(core.compile_model(quantized, "CPU", as_run))
    return quantized, accuracy_record(validation, settings.max_drop, float_miou, int8_miou)


def write_int8(core: "openvino.Core", onnx_path: str, calibration: Calibration, settings: QuantSettings,
               folder: str) -> None:
    """The INT8 model of ``onnx_path`` as ``folder/model.xml`` + ``model.bin``, and ``folder/int8.json``
    (settings, calibration files, the accuracy measured, seconds taken); logs what it does and how long it
    took."""
    import openvino as ov  # already imported by the backend (without its telemetry)

    validation = calibration.validation
    logger.info("quantising the inference graph to INT8: %d calibration images, %s (NNCF; takes a while)",
                len(calibration.files), "no validation list: no accuracy control" if validation is None else
                f"accuracy control on {len(validation)} validation images, max mIoU drop {settings.max_drop:g}")
    start = time.perf_counter()
    quantized, accuracy = quantize(core, onnx_path, calibration, settings)
    seconds = time.perf_counter() - start
    ov.save_model(quantized, os.path.join(folder, MARKER), compress_to_fp16=False)
    record = {"settings": asdict(settings), "calibration_files": list(calibration.files),
              "calibration_digest": calibration.digest(), "accuracy": accuracy, "seconds": round(seconds, 1)}
    atomic_write_bytes(os.path.join(folder, RECORD), json.dumps(record, indent=1).encode("utf-8"))
    measured = (f"; mIoU {accuracy['float_miou']:.4f} float32 -> {accuracy['int8_miou']:.4f} int8 (drop "
                f"{accuracy['drop']:.4f}, limit {accuracy['limit']:g})" if "drop" in accuracy else "")
    logger.info("quantised the inference graph to INT8 in %.1f s (%d calibration images)%s", seconds,
                len(calibration.files), measured)


def read_record(model_xml: Path) -> Dict[str, Any]:
    """int8.json beside an INT8 ``model.xml``."""
    return json.loads((model_xml.parent / RECORD).read_text(encoding="utf-8"))


def int8_model(core: "openvino.Core", onnx_folder: Path, calibration: Optional[Calibration],
               settings: QuantSettings, model_path: Optional[str] = None, cache_dir: Optional[str] = None) -> Path:
    """Path of the INT8 ``model.xml`` of the ONNX artifact in ``onnx_folder`` (``<root>/<weights key>/onnx``):
    the cached one, else quantised now (``core``: the backend's ``openvino.Core``) with ``calibration``."""
    from .artifacts import made_once

    if calibration is None:
        raise ValueError("--precision int8 needs calibration images (the config's training list): "
                         "none were given to the runtime")
    onnx_path = str(onnx_folder / "model.onnx")
    folder = made_once(onnx_folder.parent.name, int8_key(calibration, settings), MARKER,
                       lambda out: write_int8(core, onnx_path, calibration, settings, out), model_path, cache_dir)
    return folder / MARKER
