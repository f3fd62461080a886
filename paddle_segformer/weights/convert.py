"""Convert files: foreign -> ``.pdparams`` with our keys, and ours -> a Hugging Face folder."""
from __future__ import annotations

import json
import logging
import os
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..io.atomic import atomic_path
from ..variants import MIT_VARIANTS
from . import formats
from .checkpoint import CheckpointInfo, convert_state, load_any
from .rules import CheckpointError, from_ours

logger = logging.getLogger(__name__)


def model_keys(state: Mapping[str, np.ndarray], backbone_only: bool) -> Dict[str, np.ndarray]:
    """Full-model keys as a model's ``state_dict`` has them; backbone-only files as the backbone's."""
    if not backbone_only:
        return dict(state)
    return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}


def save_pdparams(state: Mapping[str, np.ndarray], path: str) -> None:
    """Write float32 tensors with ``paddle.save`` through a temporary file and a rename."""
    import paddle

    from ..io.atomic import atomic_save

    atomic_save({k: paddle.to_tensor(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}, path)


def convert_file(src: str, out: str, fmt: Optional[str] = None, variant: Optional[str] = None,
                 trust_pickle: bool = False) -> CheckpointInfo:
    """``src`` (NVlabs .pth, HF folder / .safetensors / .bin, PaddleSeg .pdparams) -> ``out`` .pdparams."""
    state, info = load_any(src, fmt, variant, trust_pickle)
    save_pdparams(model_keys(state, info.backbone_only), out)
    kind = "backbone" if info.backbone_only else f"model, {info.num_classes} classes"
    logger.info("%s (%s, MiT-%s, %d bands, %s) -> %s", src, info.format, info.variant.upper(), info.in_channels,
                kind, out)
    return info


# What a Hugging Face config records of training: this package's model defaults (SegFormer's
# Dropout2D(0.1) before linear_pred, MixVisionTransformer's drop_path_rate 0.1, ignore index 255);
# ``integration.config.training_settings`` reads them from a config instead.
DEFAULT_TRAINING = {"classifier_dropout_prob": 0.1, "drop_path_rate": 0.1, "hidden_dropout_prob": 0.0,
                    "attention_probs_dropout_prob": 0.0, "semantic_loss_ignore_index": 255}


def hf_config(variant: str, in_channels: int, num_classes: Optional[int], decoder_dim: Optional[int],
              layer_norm_eps: float = 1e-6, label_names: Optional[List[str]] = None,
              training: Optional[Mapping[str, float]] = None) -> Dict[str, object]:
    """A transformers ``SegformerConfig`` as JSON (no transformers import needed); ``training`` (see
    :func:`~paddle_segformer.integration.config.training_settings`) overrides :data:`DEFAULT_TRAINING`."""
    spec = MIT_VARIANTS[variant]
    config: Dict[str, object] = {
        "model_type": "segformer", "num_channels": in_channels, "num_encoder_blocks": 4,
        "depths": list(spec.depths), "sr_ratios": list(spec.sr_ratios), "hidden_sizes": list(spec.embed_dims),
        "patch_sizes": list(spec.patch_sizes), "strides": list(spec.strides),
        "num_attention_heads": list(spec.num_heads), "mlp_ratios": list(spec.mlp_ratios), "hidden_act": "gelu",
        "initializer_range": 0.02, "layer_norm_eps": layer_norm_eps,
        "decoder_hidden_size": decoder_dim or spec.decoder_dim, "reshape_last_stage": True,
        **DEFAULT_TRAINING, **dict(training or {}),
    }
    if num_classes is None:
        config["architectures"] = ["SegformerModel"]
    else:
        names = label_names or [f"class_{i}" for i in range(num_classes)]
        config.update(architectures=["SegformerForSemanticSegmentation"],
                      id2label={str(i): n for i, n in enumerate(names)}, label2id={n: i for i, n in enumerate(names)})
    return config


def to_hf(state: Mapping[str, np.ndarray], out_dir: str, variant: Optional[str] = None,
          label_names: Optional[List[str]] = None, training: Optional[Mapping[str, float]] = None,
          source: str = "") -> Tuple[str, CheckpointInfo]:
    """Our weights (full-model or backbone keys, numpy or paddle) -> ``out_dir`` with
    ``model.safetensors`` + ``config.json`` that ``transformers`` ``from_pretrained`` loads; ``training``
    (dropouts, ignore index: :func:`~paddle_segformer.integration.config.training_settings` of the training
    config) goes into config.json. ``source`` (the file ``state`` was read from) names errors."""
    from safetensors.numpy import save_file

    numpy_state = {k: np.ascontiguousarray(np.asarray(v.numpy() if hasattr(v, "numpy") else v))
                   for k, v in state.items()}
    where = source or f"weights for {out_dir}"
    ours, info = convert_state(numpy_state, "paddleseg", variant, source=where)
    try:
        hf_state = from_ours(ours, formats.HF)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    if not info.backbone_only:
        hf_state["decode_head.batch_norm.num_batches_tracked"] = np.zeros((), np.int64)
    os.makedirs(out_dir, exist_ok=True)
    config = hf_config(info.variant, info.in_channels, info.num_classes, info.decoder_dim, label_names=label_names,
                       training=training)
    with atomic_path(os.path.join(out_dir, "model.safetensors")) as tmp:
        save_file(hf_state, tmp, metadata={"format": "pt"})
    with atomic_path(os.path.join(out_dir, "config.json")) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
    return out_dir, info
