"""``python val.py --config CFG --model_path M``: evaluation through ``paddleseg.core.evaluate``."""
from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Union

import numpy as np

from .runtime import add_inference_args, build, load_config, logger, prepare_env, select_device, setup_logging, \
    test_options

if TYPE_CHECKING:
    import paddle

    from ..weights import LoadReport


def load_model_weights(model: "paddle.nn.Layer", model_path: str) -> "LoadReport":
    """Strictly load a trained checkpoint (file or iter_N folder) for evaluation / prediction."""
    from ..weights import load_state_dict_strict, read_state_dict

    return load_state_dict_strict(model, read_state_dict(model_path), source=model_path, allow_new_classes=False)


def complete_metrics(class_iou: np.ndarray, class_precision: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class recall and Dice from IoU and precision (exact: 1/R = 1/IoU - 1/P + 1, D = 2I/(1+I))."""
    iou, precision = np.asarray(class_iou, np.float64), np.asarray(class_precision, np.float64)
    recall = np.zeros_like(iou)
    hit = (iou > 0) & (precision > 0)
    recall[hit] = 1.0 / (1.0 / iou[hit] - 1.0 / precision[hit] + 1.0)
    return {"class_recall": recall, "class_dice": 2 * iou / (1 + iou)}


def evaluate(config: str, model_path: str, opts: Optional[List[str]] = None, device: Optional[str] = None,
             num_workers: int = 0, aug_eval: bool = False, scales: Union[float, Sequence[float], None] = None,
             flip_horizontal: bool = False, flip_vertical: bool = False, is_slide: bool = False,
             crop_size: Optional[Sequence[int]] = None, stride: Optional[Sequence[int]] = None,
             save_dir: Optional[str] = None) -> Dict[str, object]:
    """Evaluate a trained model on the config's ``val_dataset``; returns (and optionally saves) metrics.

    Test-time options come from the config's ``test_config``; arguments given here override them.
    """
    from paddleseg import core

    select_device(device)
    _, builder = load_config(config, opts=opts)
    test_config = test_options(builder.config.test_config, aug_eval=aug_eval, scales=scales, is_slide=is_slide,
                               flip_horizontal=flip_horizontal, flip_vertical=flip_vertical,
                               crop_size=crop_size, stride=stride)
    model = build(builder, "model", config)
    load_model_weights(model, model_path)
    dataset = build(builder, "val_dataset", config)
    if len(dataset) == 0:
        raise ValueError(f"{config}: val_dataset is empty")
    miou, acc, class_iou, class_precision, kappa = core.evaluate(model, dataset, num_workers=num_workers,
                                                                 **test_config)
    result: Dict[str, object] = {"miou": float(miou), "acc": float(acc), "kappa": float(kappa),
                                 "class_iou": np.asarray(class_iou), "class_precision": np.asarray(class_precision)}
    result.update(complete_metrics(class_iou, class_precision))
    result["mdice"] = float(np.mean(result["class_dice"]))
    logger.info("mIoU %.4f  Acc %.4f  Kappa %.4f  Dice %.4f", result["miou"], result["acc"], result["kappa"],
                result["mdice"])
    for name in ("class_iou", "class_precision", "class_recall", "class_dice"):
        logger.info("%-16s %s", name, np.round(result[name], 4).tolist())
    if save_dir:
        os.makedirs(save_dir, exist_ok=True)
        with open(os.path.join(save_dir, "metrics.json"), "w", encoding="utf-8") as handle:
            json.dump({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in result.items()}, handle,
                      indent=2)
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a trained SegFormer on the config's val_dataset.")
    p.add_argument("--config", required=True)
    p.add_argument("--model_path", required=True, help="model.pdparams or an iter_N / best_model folder")
    p.add_argument("--save_dir", help="write metrics.json here")
    p.add_argument("--num_workers", type=int, default=0)
    add_inference_args(p, "aug_eval")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    prepare_env()
    setup_logging()
    evaluate(**vars(build_parser().parse_args(argv)))
    return 0
