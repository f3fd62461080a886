"""``python val.py --config CFG --model_path M``: metrics on the config's val_dataset."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import numpy as np

from ..inference.options import InferenceOptions, RuntimeOptions
from ..integration.config import build, load_config
from .legacy_flags import add_data_format_arg, check_data_format, str2bool
from .runtime import add_inference_args, logger, run_cli, select_device

if TYPE_CHECKING:
    import paddle

    from ..inference.shards import Shard


def complete_metrics(class_iou: np.ndarray, class_precision: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class recall and Dice from IoU and precision (exact: 1/R = 1/IoU - 1/P + 1, D = 2I/(1+I))."""
    iou, precision = np.asarray(class_iou, np.float64), np.asarray(class_precision, np.float64)
    recall = np.zeros_like(iou)
    hit = (iou > 0) & (precision > 0)
    recall[hit] = 1.0 / (1.0 / iou[hit] - 1.0 / precision[hit] + 1.0)
    return {"class_recall": recall, "class_dice": 2 * iou / (1 + iou)}


def evaluate(config: str, model_path: str, opts: Optional[List[str]] = None, device: Optional[str] = None,
             num_workers: int = 0, test: Optional[InferenceOptions] = None, save_dir: Optional[str] = None,
             runtime: Optional[RuntimeOptions] = None, auc_roc: bool = False,
             data_format: str = "NCHW") -> Dict[str, object]:
    """Evaluate a trained model on the config's ``val_dataset``; returns (and optionally saves) metrics.

    Test-time options come from the config's ``test_config``; ``test`` (InferenceOptions: augmentation,
    sliding window) overrides them where it differs from the defaults.
    Plain evaluation runs through the runtime ``runtime`` (RuntimeOptions) chooses (default: the fastest
    installed), test-time augmentation and sliding windows through PaddleSeg's ``infer`` on the dynamic
    graph; both end in the report of :mod:`paddle_segformer.report.evaluation` (``save_dir``: metrics.json,
    confusion_matrix.csv / .png) and the result also holds ``confusion``: (num_classes, num_classes) pixel
    counts, rows label, columns prediction. ``auc_roc`` (PaddleSeg's AUC-ROC, logged by it) runs
    ``paddleseg.core.evaluate`` (``num_workers`` is its data loader's).
    An image whose forward pass would exceed ``runtime.max_memory`` (default half the available memory) is
    evaluated with a sliding window: blended tiles on the fast runtimes, PaddleSeg's sliding window under
    test-time augmentation (paddle_segformer.inference.memory), with a log line.
    """
    from ..inference.choice import choose_runtime
    from ..inference.evaluate import evaluate_dataset, slide_when_too_large
    from ..io.paths import check_output_dir
    from .data_paths import check_dataset_paths
    from .inference import build_predictor

    check_data_format(data_format)
    shard = _join_processes()
    save_dir = save_dir if shard.rank == 0 else None  # one report, from rank 0
    if save_dir:
        check_output_dir(save_dir)
    runtime = runtime or RuntimeOptions()
    device = select_device(device)
    cfg, builder = load_config(config, opts=opts, pretrained=False)  # --model_path replaces every weight
    check_dataset_paths(cfg.dic, config, ["val_dataset"])
    options = (test or InferenceOptions()).over(builder.config.test_config)
    test_config = options.as_dict()
    choice = choose_runtime(runtime, options, device, auc_roc=auc_roc)
    model, predictor = build_predictor(builder, config, model_path, options, device, choice)
    dataset = build(builder, "val_dataset", config)
    if len(dataset) == 0:
        raise ValueError(f"{config}: val_dataset is empty")
    if not predictor.plain:  # test-time augmentation: PaddleSeg's sliding window where an image is too large
        auto = slide_when_too_large(dataset, predictor.guard, dict(test_config))
        predictor.slide.update({key: auto[key] for key in predictor.slide if key in auto})
    if not choice.paddleseg_evaluate:  # any runtime, test-time augmentation and sliding windows: the full report
        result = _report(evaluate_dataset(predictor, dataset, dataset.num_classes, dataset.ignore_index,
                                          shard=shard), dataset, save_dir)
        if choice.options.precision == "int8":  # float32 on the same list, beside it
            fp32 = float32_predictor(builder, config, model_path, options, device, choice)
            reference = evaluate_dataset(fp32, dataset, dataset.num_classes, dataset.ignore_index, shard=shard)
            result["float32"] = compare_with_float32(result, reference["confusion"], dataset)
        return result
    test_config = slide_when_too_large(dataset, predictor.guard, test_config)
    result = _paddleseg_evaluate(model, dataset, num_workers, dict(test_config, auc_roc=True))
    logger.info("mIoU %.4f  Acc %.4f  Kappa %.4f  Dice %.4f", result["miou"], result["acc"], result["kappa"],
                result["mdice"])
    for name in ("class_iou", "class_precision", "class_recall", "class_dice"):
        logger.info("%-16s %s", name, np.round(result[name], 4).tolist())
    if save_dir:
        from ..report.evaluation import write_metrics

        logger.info("report: %s", write_metrics(save_dir, result))
    return result


def float32_predictor(builder: Any, config: str, model_path: str, options: InferenceOptions, device: str,
                      choice: Any) -> Any:
    """The predictor of the INT8 run's ``choice`` (a RuntimeChoice) in OpenVINO float32: what INT8 is
    compared with."""
    from ..inference.choice import choose_runtime
    from .inference import build_predictor

    reference = choose_runtime(replace(choice.options, backend="openvino", precision="fp32"), options, device)
    return build_predictor(builder, config, model_path, options, device, reference)[1]


COMPARED = (("mIoU", "miou"), ("Acc", "acc"), ("Kappa", "kappa"), ("Dice", "mdice"))


def compare_with_float32(int8: Dict[str, object], confusion: np.ndarray, dataset: Any) -> Dict[str, float]:
    """Log the INT8 metrics ``int8`` next to float32's (its ``confusion`` matrix on the same images of
    ``dataset``), one line per metric with the difference; returns float32's metrics."""
    from ..report.evaluation import EvalReport, class_names_of

    fp32 = EvalReport(confusion, class_names_of(dataset, dataset.num_classes)).result()
    for label, key in COMPARED:
        logger.info("%-6s int8 %.4f  float32 %.4f  difference %+.4f", label, int8[key], fp32[key],
                    float(int8[key]) - float(fp32[key]))
    return {key: float(fp32[key]) for _, key in COMPARED}


def _join_processes() -> "Shard":
    """This process's place under ``paddle.distributed.launch``; with several, the process group is set up
    (gloo on a CPU) for the one all-reduce of the confusion matrices."""
    from ..inference.shards import Shard

    shard = Shard.from_env()
    if not shard.single:
        import paddle.distributed as dist

        if not dist.is_initialized():
            dist.init_parallel_env()
    return shard


def _report(evaluated: Dict[str, object], dataset: Any, save_dir: Optional[str]) -> Dict[str, object]:
    """Log the per-class table of an :func:`evaluate_dataset` result; write metrics.json, confusion_matrix.csv
    and .png to ``save_dir``; return the metrics (classes absent from ground truth and predictions: NaN) and
    the confusion matrix."""
    from ..report.evaluation import EvalReport, class_names_of

    report = EvalReport(evaluated["confusion"], class_names_of(dataset, dataset.num_classes))
    logger.info("evaluation on %d image(s):\n%s", len(dataset), report.table())
    if save_dir:
        paths = report.write(save_dir)
        logger.info("report: %s", ", ".join(str(p) for p in paths.values()))
    return dict(report.result(), confusion=report.confusion)


def _paddleseg_evaluate(model: "paddle.nn.Layer", dataset: Any, num_workers: int,
                        test_config: Dict[str, Any]) -> Dict[str, object]:
    """``paddleseg.core.evaluate`` on the dynamic graph (test-time augmentation, sliding window)."""
    from paddleseg import core

    try:
        miou, acc, class_iou, class_precision, kappa = core.evaluate(model, dataset, num_workers=num_workers,
                                                                     **test_config)
    except RuntimeError as exc:
        if test_config.get("auc_roc") and "ignore_index" in str(exc):
            raise ValueError(f"--auc_roc: PaddleSeg's AUC-ROC cannot score labels with ignored pixels "
                             f"({dataset.ignore_index} here): {exc}") from exc
        raise
    result: Dict[str, object] = {"miou": float(miou), "acc": float(acc), "kappa": float(kappa),
                                 "class_iou": np.asarray(class_iou), "class_precision": np.asarray(class_precision)}
    result.update(complete_metrics(class_iou, class_precision))
    result["mdice"] = float(np.mean(result["class_dice"]))
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a trained SegFormer on the config's val_dataset.")
    p.add_argument("--config", required=True)
    p.add_argument("--model_path", required=True, help="model.pdparams or an iter_N / best_model folder")
    p.add_argument("--save_dir", help="write metrics.json, confusion_matrix.csv and confusion_matrix.png here")
    p.add_argument("--num_workers", type=int, default=0)
    add_inference_args(p, "aug_eval")
    RuntimeOptions.add_arguments(p)
    p.add_argument("--auc_roc", type=str2bool, nargs="?", const=True, default=False,
                   help="also PaddleSeg's AUC-ROC (one-vs-rest over pixels; labels without ignored pixels)")
    add_data_format_arg(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = vars(build_parser().parse_args(argv))
    evaluate(test=InferenceOptions.pop_arguments(args), runtime=RuntimeOptions.pop_arguments(args), **args)
    return 0


if __name__ == "__main__":  # python -m paddle_segformer.cli.val, as the root script
    sys.exit(run_cli(main))
