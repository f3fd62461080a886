"""``python predict.py --config CFG --model_path M --image_path DIR --save_dir OUT``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Sequence

from ..inference.options import InferenceOptions, JobOptions, RuntimeOptions, TilingOptions
from ..integration.config import load_config
from ..vector.options import VectorOptions
from .legacy_flags import parse_custom_color
from .runtime import add_inference_args, logger, run_cli, select_device

if TYPE_CHECKING:
    from ..inference.job_report import JobReport
    from ..inference.shards import Shard


def predict(config: str, model_path: str, image_path: str, save_dir: str = "output/result",
            opts: Optional[List[str]] = None, device: Optional[str] = None,
            test: Optional[InferenceOptions] = None, tiling: Optional[TilingOptions] = None,
            runtime: Optional[RuntimeOptions] = None, custom_color: Optional[Sequence[int]] = None,
            label_ids: Optional[str] = None, vector: Optional[VectorOptions] = None,
            job: Optional[JobOptions] = None, save_scores: bool = False):
    """Predict a file, a folder or a list file; returns a :class:`PredictSummary` (failures listed, not raised).

    Test-time options come from the config's ``test_config``; ``test`` (InferenceOptions: augmentation,
    sliding window) overrides them where it differs from the defaults.
    With a tile size (``tiling``: TilingOptions, or ``test_config.tile``) rasters are predicted as whole
    scenes in tiles with bounded memory and only the label GeoTIFF is written (paddle_segformer.inference.tiled).
    ``runtime`` (RuntimeOptions: backend, precision, threads, cache_dir, max_memory) chooses the runtime and
    bounds one forward pass (default half the available memory): a larger image of any format is predicted
    in tiles, one that cannot be tiled (test-time augmentation) is skipped and listed
    (paddle_segformer.inference.memory).
    ``custom_color`` (R G B R G B ..., PaddleSeg's flag) colours classes 0, 1, ... in the outputs (default:
    the dataset's ``PALETTE`` if it has one). ``label_ids`` ("cityscapes") writes the label PNGs in those ids
    (official Cityscapes labelIds) instead of class ids (paddle_segformer.data.label_ids).
    ``save_scores`` also writes, beside each label GeoTIFF (tif inputs), ``NAME_score.tif``: the winning
    class's probability as uint8 (paddle_segformer.inference.scores); ``score/NAME.png`` for other images.
    ``vector`` (VectorOptions) also writes the polygons of every label GeoTIFF of the job (tif inputs) to
    ``vector.out`` with the per-class table beside it (paddle_segformer.vector).
    Under ``paddle.distributed.launch`` (or PADDLE_TRAINER_ID / PADDLE_TRAINERS_NUM set) each process predicts
    its share of the files (fewer files than processes: a band of rows of every tiled scene,
    paddle_segformer.inference.scene_bands) and rank 0 merges the reports; files predicted before into
    ``save_dir`` with the same weights and options are skipped unless ``job.overwrite`` (JobOptions; see
    :func:`_run_job`).
    """
    from ..data.label_ids import label_ids as label_id_scheme
    from ..inference.choice import choose_runtime
    from ..inference.folder import predict_folder
    from ..inference.job_report import RankReportMissing, clear_rank_report
    from ..inference.shards import FolderJob, Shard
    from ..io.image import input_bytes
    from ..io.paths import check_output_dir
    from .inference import build_predictor, dataset_class_names

    shard, job = Shard.from_env(), job or JobOptions()
    colours = parse_custom_color(custom_color)
    check_output_dir(save_dir, input_bytes(image_path))  # the outputs take about what the inputs take
    clear_rank_report(save_dir, shard)  # before any work: an earlier run's report must not be merged
    device = select_device(device)
    _, builder = load_config(config, opts=opts, pretrained=False)  # --model_path replaces every weight
    test_config = dict(builder.config.test_config or {})
    options = (test or InferenceOptions()).over(test_config)
    scenes = (tiling or TilingOptions()).over(test_config)
    choice = choose_runtime(runtime or RuntimeOptions(), options, device)
    model, predictor = build_predictor(builder, config, model_path, options, device, choice, scenes)
    if save_scores and not predictor.plain:  # refused before any file, not file by file
        raise ValueError("--save_scores needs plain prediction: the scores are those of the logits a label comes "
                         "from, and test-time augmentation / sliding windows combine several (turn them off)")
    if choice.options.precision == "int8":  # before any file: an INT8 model that lost too much is refused
        from ..inference.int8_accuracy import check_drop

        check_drop(predictor.backend.int8_record, predictor.backend.path)
    written_ids = label_id_scheme(label_ids, model.num_classes) if label_ids else None
    key = output_key(model, predictor.img_channels, options=options.as_dict(), tiling=scenes, colours=colours,
                     label_ids=label_ids, runtime=(choice.candidates, choice.options.precision),
                     transforms=builder.config.val_dataset_cfg.get("transforms"),
                     **({"scores": True} if save_scores else {}),  # keys of earlier runs stay as they were
                     **_int8_model(predictor))
    summary = predict_folder(predictor, image_path, save_dir, num_classes=model.num_classes, tiling=scenes,
                             colours=colours, label_ids=written_ids,
                             job=FolderJob(shard, key, job.overwrite, job.report_timeout), save_scores=save_scores)
    logger.info("%s\n  labels: %s/label  colour: %s/pseudo_color  overlays: %s/overlay",
                summary.report(), save_dir, save_dir, save_dir)
    polygons = vector if shard.rank == 0 else None  # made once, by rank 0, from every rank's GeoTIFFs
    try:
        summary.job = _run_job(save_dir, shard, summary, job)
    except RankReportMissing:
        if polygons is not None:  # what the ranks finished still gets its polygons; the error follows
            vectorize_job(image_path, save_dir, key, polygons, dataset_class_names(builder, config), partial=True)
        raise
    if polygons is not None:
        vectorize_job(image_path, save_dir, key, polygons, dataset_class_names(builder, config))
    return summary


def output_key(model: Any, channels: int, **options: Any) -> str:
    """The resume key of a prediction: the weights' content hash (the exported-artifact cache's
    :func:`~paddle_segformer.inference.artifacts.fingerprint`) with the options that change outputs."""
    from ..inference.artifacts import fingerprint
    from ..inference.resume import resume_key

    return resume_key(fingerprint(model, channels), **options)


def _int8_model(predictor: Any) -> dict:
    """The INT8 model's identity for the resume key (its cache folder, named by the calibration set, the
    accuracy control and the settings): another INT8 model's outputs are redone, not kept. Empty otherwise."""
    record = getattr(predictor.backend, "int8_record", None)
    return {"int8_model": Path(predictor.backend.path).parent.name} if record is not None else {}


def _run_job(save_dir: str, shard: "Shard", summary: Any, job: JobOptions) -> Optional["JobReport"]:
    """Every rank writes its report; rank 0 waits for the others' (``job.report_timeout``), writes one
    ``predict_report.json`` and logs the merged summary (one process: its own report, at once)."""
    from ..inference.job_report import gather, write_rank_report, write_report

    write_rank_report(save_dir, shard, summary.files, summary.seconds)
    if shard.rank != 0:
        return None
    merged = gather(save_dir, shard, job.report_timeout)
    path = write_report(save_dir, merged)
    if not shard.single:
        logger.info("%s; report: %s", merged.line(), path)
    return merged


def vectorize_job(image_path: str, save_dir: str, key: str, vector: VectorOptions, class_names: Sequence[str],
                  partial: bool = False) -> None:
    """Polygons and the per-class table of the label GeoTIFFs the whole job finished (every rank's, read from
    the resume journals; predict.py ``--vector``), the raster inputs left out named. ``partial`` (a rank did
    not report): none finished is a warning, not an error (the missing rank's error follows)."""
    from ..inference.job_outputs import job_geotiffs
    from ..vector.pipeline import vectorize_rasters
    from ..vector.writers import format_table

    rasters = job_geotiffs(image_path, save_dir, key)
    if rasters.missing:
        shown = ", ".join(rasters.missing[:20]) + (", ..." if len(rasters.missing) > 20 else "")
        logger.warning("--vector %s: %d raster input(s) not predicted are not in the polygons: %s", vector.out,
                       len(rasters.missing), shown)
    if not rasters.found:
        if partial:
            logger.warning("--vector %s: no label GeoTIFF finished yet, no polygons written", vector.out)
            return
        raise ValueError(f"--vector {vector.out}: no label GeoTIFF was written (polygons need tif inputs)")
    table, rows = vectorize_rasters(rasters.found, vector, class_names)
    logger.info("polygons: %s\n%s", vector.out, format_table(rows, table.unit))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Predict a file or a folder (recursively) with a trained SegFormer.")
    p.add_argument("--config", required=True)
    p.add_argument("--model_path", required=True)
    p.add_argument("--image_path", required=True,
                   help="an image, a folder of jpg/png/tif, or a list file of image paths (relative to its folder)")
    p.add_argument("--save_dir", default="output/result")
    add_inference_args(p, "aug_pred")
    TilingOptions.add_arguments(p)
    RuntimeOptions.add_arguments(p)
    p.add_argument("--custom_color", type=int, nargs="+", metavar="V",
                   help="colours of classes 0, 1, ... as R G B R G B ... (PaddleSeg's flag; default: the dataset's)")
    p.add_argument("--label_ids", choices=("cityscapes",),
                   help="write label PNGs in these ids instead of class ids (cityscapes: official labelIds)")
    p.add_argument("--save_scores", action="store_true",
                   help="also write the winning class's probability as uint8 (0 = nodata): NAME_score.tif "
                        "beside each label GeoTIFF (tif inputs), score/NAME.png for other images")
    VectorOptions.add_arguments(p, "--vector", required=False)
    JobOptions.add_arguments(p)
    return p


def run(argv: Optional[List[str]] = None):
    """Parse the flags into the option objects and predict; returns the :class:`PredictSummary`."""
    args = vars(build_parser().parse_args(argv))
    return predict(test=InferenceOptions.pop_arguments(args), tiling=TilingOptions.pop_arguments(args),
                   runtime=RuntimeOptions.pop_arguments(args), vector=VectorOptions.pop_arguments(args),
                   job=JobOptions.pop_arguments(args), **args)


def main(argv: Optional[List[str]] = None) -> int:
    """Status 3 when a file failed (on rank 0 of several processes: a file of any rank)."""
    summary = run(argv)
    return 3 if summary.failed or (summary.job is not None and summary.job.count("failed")) else 0


if __name__ == "__main__":  # python -m paddle_segformer.cli.predict, as the root script
    sys.exit(run_cli(main))
