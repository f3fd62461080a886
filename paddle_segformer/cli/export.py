"""``python export.py --config CFG --model_path M --save_dir OUT``: static model for Paddle Inference."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..inference.options import OUTPUT_OPS
from ..integration.config import build, load_config
from .legacy_flags import export_input_size, legacy_output_op
from .runtime import logger, run_cli, select_device


def export_model(config: str, model_path: Optional[str], save_dir: str = "output/inference_model",
                 output_op: str = "argmax", input_shape: Optional[List[int]] = None,
                 opts: Optional[List[str]] = None, without_argmax: bool = False,
                 with_softmax: bool = False, random_weights: bool = False) -> str:
    """Build, load strictly, and save the static model plus a ``deploy.yaml``; returns save_dir
    (the export itself: :func:`paddle_segformer.inference.static.export_deploy`).

    ``input_shape`` is H W or PaddleSeg's N C H W (the batch stays dynamic); ``without_argmax`` /
    ``with_softmax`` are PaddleSeg's older spellings of ``output_op`` none / softmax. Without ``model_path``
    the export is refused unless ``random_weights`` asks for randomly initialised weights (a smoke test).
    """
    from ..inference.static import export_deploy
    from ..io.paths import check_output_dir
    from .inference import load_model_weights

    output_op = legacy_output_op(output_op, without_argmax, with_softmax)
    if not model_path and not random_weights:
        raise ValueError("export.py needs --model_path (the trained weights to export); "
                         "--random_weights exports randomly initialised weights instead")
    check_output_dir(save_dir)
    select_device("cpu")
    cfg, builder = load_config(config, opts=opts, pretrained=False)  # --model_path replaces every weight
    model = build(builder, "model", config)
    if model_path:
        load_model_weights(model, model_path)
    else:
        logger.warning("--random_weights: exporting randomly initialised weights, not a trained model")
    return export_deploy(model, save_dir, output_op, export_input_size(input_shape, model.backbone.in_channels),
                         cfg.val_dataset_cfg.get("transforms"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Export a trained SegFormer to a static inference model.")
    p.add_argument("--config", required=True)
    p.add_argument("--model_path", help="trained weights (model.pdparams or iter_N folder); required unless "
                                        "--random_weights")
    p.add_argument("--random_weights", action="store_true",
                   help="export randomly initialised weights (a smoke test of the export, not a model)")
    p.add_argument("--save_dir", default="output/inference_model")
    p.add_argument("--output_op", choices=OUTPUT_OPS, default="argmax")
    p.add_argument("--input_shape", type=int, nargs="+", metavar="N",
                   help="fix the input size: H W, or PaddleSeg's N C H W (the batch stays dynamic)")
    p.add_argument("--without_argmax", action="store_true", help="PaddleSeg's older spelling of --output_op none")
    p.add_argument("--with_softmax", action="store_true", help="PaddleSeg's older spelling of --output_op softmax")
    p.add_argument("--opts", nargs="+")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    export_model(**vars(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":  # python -m paddle_segformer.cli.export, as the root script
    sys.exit(run_cli(main))
