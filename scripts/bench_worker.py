"""One row of scripts/bench_inference.py in its own process (not meant to be run by hand).

    bench_worker.py ROW VARIANT SIZE CLASSES THREADS OUT_DIR REWARM

Builds the row's runner and warms it up, then answers (bench_harness.serve): "run" times one image ->
labels after REWARM untimed ones, "finish" saves the last labels and reports the peak resident memory.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from typing import Callable

import numpy as np
from bench_harness import hf_model, paddleseg_model, serve

WARMUP = 2
CALIB = 32  # the INT8 row's calibration inputs (random, like the timed input; its labels are compared)
Runner = Callable[[np.ndarray], np.ndarray]  # (1, 3, S, S) float32 -> (S, S) labels


def _ours(variant: str, classes: int):
    import paddle

    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(0)
    model = SegFormer(classes, mit(variant))
    model.eval()
    return model


def _paddle_argmax(model) -> Runner:
    import paddle

    def run(x):
        with paddle.no_grad():
            return paddle.argmax(model(paddle.to_tensor(x))[0], axis=1).numpy()[0]

    return run


def paddleseg_row(variant: str, classes: int, threads: int, size: int) -> Runner:
    model = paddleseg_model(variant, classes)
    model.eval()
    return _paddle_argmax(model)


def _calibration(size: int):
    """CALIB random (3, size, size) inputs drawn as the timed one is, named for the INT8 model's cache key."""
    from paddle_segformer.inference.int8 import Calibration

    def load(name: str) -> np.ndarray:
        seed = int(name.rsplit("-", 1)[1])
        return np.random.default_rng(seed).standard_normal((3, size, size)).astype(np.float32)

    return Calibration(tuple(f"random-{size}-{i + 1}" for i in range(CALIB)), load)


def backend_row(name: str, precision: str = "fp32") -> Callable[[str, int, int, int], Runner]:
    def build(variant: str, classes: int, threads: int, size: int) -> Runner:
        from paddle_segformer.inference.backends import create_backend
        from paddle_segformer.inference.options import RuntimeOptions
        from paddle_segformer.inference.upsample import upsample_labels

        calibration = _calibration(size) if precision == "int8" else None
        backend = create_backend(_ours(variant, classes), RuntimeOptions(name, precision, threads, CACHE),
                                 calibration=calibration)
        return lambda x: upsample_labels(backend.label_logits(x)[0], x.shape[2:], backend.align_corners)

    return build


def end_to_end_row(precision: str) -> Callable[[str, int, int, int], Runner]:
    """OpenVINO in ``precision`` end to end, as predict.py runs one file: a smooth random JPG read, decoded
    and normalised (Predictor.load), its labels predicted and written as a PNG (the timed input is ignored);
    INT8 calibrated on CALIB other JPGs of the same kind through the same reading."""
    def build(variant: str, classes: int, threads: int, size: int) -> Runner:
        from bench_folder import make_images
        from paddleseg.transforms import Normalize

        from paddle_segformer.inference.backends import create_backend
        from paddle_segformer.inference.int8 import Calibration
        from paddle_segformer.inference.options import RuntimeOptions
        from paddle_segformer.inference.predictor import Predictor
        from paddle_segformer.io.atomic import atomic_write_bytes
        from paddle_segformer.io.image import encode_png

        images = tempfile.mkdtemp(dir=CACHE)
        make_images(images, CALIB + 1, size)
        files = sorted(os.path.join(images, name) for name in os.listdir(images))
        model = _ours(variant, classes)
        predictor = Predictor(model, [Normalize()])
        calibration = (Calibration.draw(files[1:], CALIB, lambda path: predictor.load(path).chw)
                       if precision == "int8" else None)
        predictor.attach(create_backend(model, RuntimeOptions("openvino", precision, threads, CACHE),
                                        calibration=calibration))
        out = os.path.join(images, "label.png")

        def run(x):
            labels = predictor.labels(predictor.load(files[0]))
            atomic_write_bytes(out, encode_png(labels.astype(np.uint8)))
            return labels

        return run

    return build


def _plain_onnx(variant: str, classes: int) -> str:
    """The unmodified model with argmax in the graph (as export.py writes it), converted as ours is."""
    from paddle_segformer.inference.artifacts import save_onnx
    from paddle_segformer.inference.static import ExportHead

    folder = tempfile.mkdtemp(dir=CACHE)
    save_onnx(ExportHead(_ours(variant, classes), "argmax"), 3, folder)
    return os.path.join(folder, "model.onnx")


def ort_plain_row(variant: str, classes: int, threads: int, size: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(_plain_onnx(variant, classes), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0][0]


def ov_plain_row(variant: str, classes: int, threads: int, size: int) -> Runner:
    import openvino as ov

    compiled = ov.Core().compile_model(_plain_onnx(variant, classes), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    return lambda x: compiled([x])[0][0]


def hf_torch_row(variant: str, classes: int, threads: int, size: int) -> Runner:
    import torch

    model = hf_model(variant, classes, threads).eval()

    def run(x):
        with torch.inference_mode():
            logits = model(pixel_values=torch.from_numpy(x)).logits
            up = torch.nn.functional.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)
            return up.argmax(1)[0].numpy()

    return run


def ours_dynamic_row(variant: str, classes: int, threads: int, size: int) -> Runner:
    return _paddle_argmax(_ours(variant, classes))


# row -> (builder, uses the same random weights as ours-dynamic)
BUILDERS = {
    "paddleseg": (paddleseg_row, False),
    "ours-dynamic": (ours_dynamic_row, True),
    "paddle": (backend_row("paddle"), True),
    "inference": (backend_row("inference"), True),
    "onnxruntime": (backend_row("onnxruntime"), True),
    "openvino": (backend_row("openvino"), True),
    "openvino-bf16": (backend_row("openvino", "bf16"), True),
    "openvino-int8": (backend_row("openvino", "int8"), True),
    "openvino-e2e": (end_to_end_row("fp32"), True),
    "openvino-int8-e2e": (end_to_end_row("int8"), True),
    "ort-plain": (ort_plain_row, True),
    "ov-plain": (ov_plain_row, True),
    "hf-torch": (hf_torch_row, False),
}
CACHE = tempfile.mkdtemp(prefix="bench_cache_")
atexit.register(shutil.rmtree, CACHE, True)


def main() -> int:
    row, variant, size, classes, threads, out_dir, rewarm = sys.argv[1:8]
    size, classes, threads, rewarm = int(size), int(classes), int(threads), int(rewarm)
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    last = {}

    def setup():
        if os.environ.get("OMP_NUM_THREADS"):  # rows run "prepared" get the CLI's environment
            from paddle_segformer.machine import prepare_env

            prepare_env(import_paddle=False)  # a PyTorch row must not hold paddle in its memory
        build, _ = BUILDERS[row]
        runner = build(variant, classes, threads, size)
        for _ in range(WARMUP):
            runner(x)
        return lambda: last.update(labels=runner(x))

    def finish():
        path = os.path.join(out_dir, f"{row}_{variant}_{size}.npy")
        np.save(path, np.asarray(last["labels"]).astype(np.int64))
        return {"labels": path, "same_weights": BUILDERS[row][1]}

    return serve(setup, finish, rewarm)


if __name__ == "__main__":
    sys.exit(main())
