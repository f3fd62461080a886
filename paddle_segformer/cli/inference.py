"""What predict.py and val.py share: the model with its weights, the runtime, the predictor."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Optional, Tuple

from ..inference.options import InferenceOptions
from ..integration.config import build
from .runtime import logger

if TYPE_CHECKING:
    import paddle

    from ..inference.choice import RuntimeChoice
    from ..weights.loading import LoadReport


def load_model_weights(model: "paddle.nn.Layer", model_path: str) -> "LoadReport":
    """Strictly load a trained checkpoint (file or iter_N folder) for evaluation / prediction."""
    from ..weights.loading import load_state_dict_strict, read_state_dict

    return load_state_dict_strict(model, read_state_dict(model_path), source=model_path, allow_new_classes=False)


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """``--backend --precision --threads --cache_dir`` (see paddle_segformer.inference.choice)."""
    from ..inference.choice import BACKENDS, PRECISIONS

    p.add_argument("--backend", choices=("auto",) + BACKENDS, default="auto",
                   help="inference runtime (default auto: the fastest installed, OpenVINO on a CPU)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16 runs through OpenVINO on CPUs with avx512_bf16 / AMX")
    p.add_argument("--threads", type=int, help="runtime threads (default: OMP_NUM_THREADS or all cores)")
    p.add_argument("--cache_dir", help="where exported / converted models are cached "
                                       "(default: beside the checkpoint, else ~/.cache/paddle_segformer)")
    p.add_argument("--max_memory", help="memory budget of one forward pass, e.g. 4G or 512M (default: half the "
                                        "memory available); larger images are predicted in tiles")


def build_predictor(builder: Any, config: str, model_path: str, test: InferenceOptions, device: str,
                    runtime: Optional["RuntimeChoice"] = None, memory: Optional[Any] = None,
                    tiling: Optional[Any] = None) -> Tuple[Any, Any]:
    """(model, Predictor): the config's model with ``model_path`` loaded strictly, its eval transforms,
    the test-time options ``test`` (test_config + flags), the runtime ``runtime`` chose (a RuntimeChoice;
    default: choose_runtime for ``test`` on ``device``), and the memory budget ``memory`` (MemoryBudget;
    inputs over it are tiled with ``tiling`` or automatic tiles)."""
    from ..inference.backends import start_runtime
    from ..inference.choice import choose_runtime
    from ..inference.predictor import Predictor

    choice = runtime or choose_runtime(test=test, device=device)
    model = build(builder, "model", config)
    load_model_weights(model, model_path)
    dataset_cls = build(builder, "val_dataset_class", config)
    channels = getattr(dataset_cls, "IMG_CHANNELS", None) or builder.config.val_dataset_cfg.get("img_channels", 3)
    predictor = Predictor(model, build(builder, "val_transforms", config), img_channels=channels, options=test,
                          backend=start_runtime(model, choice, model_path))
    facts = dict(builder.config.val_dataset_cfg, **builder.config.train_dataset_cfg)
    ignore = facts.get("ignore_index", getattr(dataset_cls, "IGNORE_INDEX", 255))  # config, else the class's
    predictor.nodata_label = int(ignore)
    predictor.class_colours = getattr(dataset_cls, "PALETTE", None)
    if memory is not None:
        predictor.set_memory_budget(memory, tiling)
        logger.info("memory budget of one forward pass: %s", memory)
    return model, predictor
