"""``python predict.py --config CFG --model_path M --image_path DIR --save_dir OUT``."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

from ..inference.options import InferenceOptions
from ..integration.config import load_config
from ..machine import prepare_env
from .inference import add_runtime_args
from .legacy_flags import parse_custom_color
from .runtime import add_inference_args, logger, run_cli, select_device, setup_logging


def predict(config: str, model_path: str, image_path: str, save_dir: str = "output/result",
            opts: Optional[List[str]] = None, device: Optional[str] = None,
            test: Optional[InferenceOptions] = None, tile: Optional[int] = None,
            overlap: Optional[int] = None, batch_size: Optional[int] = None, backend: str = "auto",
            precision: str = "fp32", threads: Optional[int] = None, cache_dir: Optional[str] = None,
            custom_color: Optional[Sequence[int]] = None, label_ids: Optional[str] = None,
            max_memory: Optional[str] = None):
    """Predict a file, a folder or a list file; returns a :class:`PredictSummary` (failures listed, not raised).

    Test-time options come from the config's ``test_config``; ``test`` (InferenceOptions: augmentation,
    sliding window) overrides them where it differs from the defaults.
    With ``tile`` (or ``test_config.tile``) rasters are predicted as whole scenes in tiles with
    bounded memory and only the label GeoTIFF is written (see paddle_segformer.inference.tiled).
    ``backend`` / ``precision`` / ``threads`` / ``cache_dir`` choose the runtime (RuntimeOptions).
    ``custom_color`` (R G B R G B ..., PaddleSeg's flag) colours classes 0, 1, ... in the outputs (default:
    the dataset's ``PALETTE`` if it has one). ``label_ids`` ("cityscapes") writes the label PNGs in those ids
    (official Cityscapes labelIds) instead of class ids (paddle_segformer.data.label_ids).
    ``max_memory`` ('4G', '512M'; default half the available memory) bounds one forward pass: a larger
    image of any format is predicted in tiles (``tile`` / ``overlap`` if given), one that cannot be
    tiled (test-time augmentation) is skipped and listed (paddle_segformer.inference.memory).
    """
    from ..data.label_ids import label_ids as label_id_scheme
    from ..inference.choice import RuntimeOptions, choose_runtime
    from ..inference.folder import predict_folder
    from ..inference.memory import MemoryBudget
    from ..inference.tiled import Tiling
    from .inference import build_predictor

    colours = parse_custom_color(custom_color)
    memory = MemoryBudget.create(max_memory)
    runtime = RuntimeOptions(backend, precision, threads, cache_dir)
    device = select_device(device)
    _, builder = load_config(config, opts=opts)
    test_config = dict(builder.config.test_config or {})
    options = (test or InferenceOptions()).over(test_config)
    tiling = {"tile": tile if tile is not None else test_config.get("tile"),  # --tile 0: no tiling
              "overlap": overlap if overlap is not None else test_config.get("overlap", 64),
              "batch_size": batch_size if batch_size is not None else test_config.get("batch_size", 1)}
    model, predictor = build_predictor(builder, config, model_path, options, device,
                                       choose_runtime(runtime, options, device), memory,
                                       Tiling(**tiling) if tiling["tile"] else None)
    written_ids = label_id_scheme(label_ids, model.num_classes) if label_ids else None
    summary = predict_folder(predictor, image_path, save_dir, num_classes=model.num_classes,
                             tiling=tiling if tiling["tile"] else None, colours=colours, label_ids=written_ids)
    logger.info("%s\n  labels: %s/label  colour: %s/pseudo_color  overlays: %s/overlay",
                summary.report(), save_dir, save_dir, save_dir)
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Predict a file or a folder (recursively) with a trained SegFormer.")
    p.add_argument("--config", required=True)
    p.add_argument("--model_path", required=True)
    p.add_argument("--image_path", required=True,
                   help="an image, a folder of jpg/png/tif, or a list file of image paths (relative to its folder)")
    p.add_argument("--save_dir", default="output/result")
    add_inference_args(p, "aug_pred")
    p.add_argument("--tile", type=int,
                   help="predict rasters as whole scenes in tiles of this size, bounded memory (0: off)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels, blended on the logits (default 64)")
    p.add_argument("--batch_size", type=int, help="tiles per forward pass (default 1; more helps on a GPU)")
    add_runtime_args(p)
    p.add_argument("--custom_color", type=int, nargs="+", metavar="V",
                   help="colours of classes 0, 1, ... as R G B R G B ... (PaddleSeg's flag; default: the dataset's)")
    p.add_argument("--label_ids", choices=("cityscapes",),
                   help="write label PNGs in these ids instead of class ids (cityscapes: official labelIds)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    prepare_env()
    setup_logging()
    args = vars(build_parser().parse_args(argv))
    summary = predict(test=InferenceOptions.pop_arguments(args), **args)
    return 3 if summary.failed else 0


if __name__ == "__main__":  # python -m paddle_segformer.cli.predict, as the root script
    sys.exit(run_cli(main))
