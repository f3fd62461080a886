"""The one static export (``paddle.jit.save``), its ``deploy.yaml`` (writer beside reader) and Paddle
Inference on the result.

:func:`export_static` saves a layer: export.py's model with its output op (:func:`export_deploy`, which
also writes ``deploy.yaml``), and the runtimes' cached inference graph
(:mod:`paddle_segformer.inference.artifacts`). :class:`StaticPredictor` runs either.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from ..io.atomic import atomic_write_bytes
from .memory import MemoryBudget, MemoryGuard, MemoryRefused, ModelShape
from .options import OUTPUT_OPS

logger = logging.getLogger(__name__)

MODEL_STEM = "model"
DEPLOY = "deploy.yaml"


class ExportHead(nn.Layer):
    """Model + output op, as exported: (N, C, H, W) float32 -> labels (N, H, W) int32,
    softmax probabilities (N, K, H, W), or raw logits."""

    def __init__(self, model: nn.Layer, output_op: str = "argmax"):
        super().__init__()
        if output_op not in OUTPUT_OPS:
            raise ValueError(f"output_op must be argmax, softmax or none, got {output_op!r}")
        self.model = model
        self.output_op = output_op

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        logit = self.model(x)[0]
        if self.output_op == "argmax":
            return paddle.argmax(logit, axis=1, dtype="int32")
        if self.output_op == "softmax":
            return nn.functional.softmax(logit, axis=1)
        return logit


def export_static(layer: nn.Layer, folder: str, in_channels: int = 3,
                  input_size: Optional[Tuple[int, int]] = None) -> str:
    """Save ``layer`` (eval mode) as a static graph ``folder/model.*`` taking ``x``: (N, ``in_channels``, H, W)
    float32; returns the path prefix. The batch is dynamic; so are H and W unless ``input_size`` (H, W)."""
    layer.eval()
    h, w = input_size if input_size else (None, None)
    spec = [paddle.static.InputSpec([None, in_channels, h, w], "float32", "x")]
    static = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, MODEL_STEM)
    paddle.jit.save(static, prefix)
    return prefix


def export_deploy(model: nn.Layer, save_dir: str, output_op: str = "argmax",
                  input_size: Optional[Tuple[int, int]] = None, transforms: Optional[List[Any]] = None) -> str:
    """export.py's export: ``model`` with its output op (:class:`ExportHead`) saved by :func:`export_static`
    under ``save_dir``, plus the ``deploy.yaml`` describing it (:func:`write_deploy`); returns ``save_dir``."""
    in_channels = model.backbone.in_channels
    export_static(ExportHead(model, output_op), save_dir, in_channels, input_size)
    write_deploy(save_dir, model, output_op, transforms)
    logger.info("exported static model to %s (%s)", save_dir, ", ".join(sorted(os.listdir(save_dir))))
    return save_dir


def _model_file(model_dir: str) -> str:
    for name in (f"{MODEL_STEM}.json", f"{MODEL_STEM}.pdmodel"):  # PIR (Paddle 3) or legacy program
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{model_dir}: no {MODEL_STEM}.json or {MODEL_STEM}.pdmodel (run export.py first)")


def write_deploy(save_dir: str, model: nn.Layer, output_op: str, transforms: Optional[List[Any]] = None) -> str:
    """``save_dir/deploy.yaml`` (PaddleSeg's layout) for the export there: model and params files, output op,
    eval ``transforms`` (default: Normalize), classes, bands and the model's shape for the memory guard."""
    import yaml

    deploy = {"Deploy": {"model": os.path.basename(_model_file(save_dir)), "params": f"{MODEL_STEM}.pdiparams",
                         "output_op": output_op,
                         "transforms": [{"type": "Normalize"}] if transforms is None else transforms,
                         "num_classes": model.num_classes, "in_channels": model.backbone.in_channels,
                         "memory": ModelShape.of_model(model).to_dict()}}
    path = os.path.join(save_dir, DEPLOY)
    atomic_write_bytes(path, yaml.safe_dump(deploy, sort_keys=False).encode("utf-8"))
    return path


def read_deploy(model_dir: str) -> Optional[Dict[str, Any]]:
    """The ``Deploy`` section of ``model_dir/deploy.yaml``; None without that file (the runtimes' cached
    exports have none)."""
    path = os.path.join(model_dir, DEPLOY)
    if not os.path.isfile(path):
        return None
    import yaml

    with open(path, encoding="utf-8") as handle:
        return (yaml.safe_load(handle) or {}).get("Deploy", {})


def export_guard(model_dir: str, budget: Optional[MemoryBudget] = None) -> Optional[MemoryGuard]:
    """The memory guard of an export made by export.py (its deploy.yaml describes the model's shape);
    None for a folder without that description (the runtimes' cached exports: the predictor guards them)."""
    shape = (read_deploy(model_dir) or {}).get("memory")
    return MemoryGuard(ModelShape.from_dict(shape), budget or MemoryBudget.create(), "export") if shape else None


class StaticPredictor:
    """Paddle Inference on an exported model. ``run(batch)``: (N, C, H, W) float32 -> output array.

    An export with a deploy.yaml (export.py) is guarded: a batch whose forward pass would exceed the
    memory budget (``budget``, default half the available memory) is refused with
    :class:`~paddle_segformer.inference.memory.MemoryRefused` before it runs, not killed by the system."""

    def __init__(self, model_dir: str, threads: Optional[int] = None, use_onednn: bool = True,
                 use_gpu: bool = False, budget: Optional[MemoryBudget] = None):
        from paddle import inference

        self.guard = None if use_gpu else export_guard(model_dir, budget)

        params = os.path.join(model_dir, f"{MODEL_STEM}.pdiparams")
        if not os.path.isfile(params):
            raise FileNotFoundError(f"{model_dir}: {MODEL_STEM}.pdiparams not found")
        config = inference.Config(_model_file(model_dir), params)
        if use_gpu:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
            if use_onednn:
                config.enable_mkldnn()
                # Paddle 3.3.1: the oneDNN placement pass cannot convert bilinear_interp's
                # double-array attribute on PIR programs; without it the graph runs and matches the dynamic model.
                config.delete_pass("onednn_placement_pass")
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.guard is not None:
            plan = self.guard.plan(batch.shape[2], batch.shape[3], batch.shape[0])
            if not plan.fits:
                raise MemoryRefused(f"{plan.reason(batch.shape[2], batch.shape[3])} (batch {batch.shape[0]}): "
                                    f"not run; predict in tiles of at most {self.guard.largest_side()} px a side")
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        self.input.reshape(list(batch.shape))
        self.input.copy_from_cpu(batch)
        self.predictor.run()
        return self.output.copy_to_cpu()
