"""Does a pretrained encoder matter? An offline stand-in for ImageNet (issue #21).

1. Pre-train SegFormer-B0 on one synthetic task (mini-Cityscapes street frames made by
   paddle_segformer.data.synthetic_cityscapes) and keep its encoder as a backbone checkpoint.
2. Fine-tune the parcel demo (configs/demo.yml, synthetic tiles) from that encoder and from scratch, with
   the same iterations, seed and data, evaluating on the validation tiles every ``--eval_every`` iterations.
3. Write both mIoU curves to ``OUT/pretrain_evidence.json`` and a plot (``--plot``, e.g.
   docs/images/pretrain_evidence.png).

Synthetic street frames are not ImageNet: this shows what starting from trained features does to the same
fine-tuning run, not what ImageNet weights give (those cannot be downloaded here).

    python scripts/pretrain_evidence.py --out evidence_output --plot docs/images/pretrain_evidence.png
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Dict, List, Optional

logger = logging.getLogger("pretrain_evidence")


def _write_config(path: str, base: str, body: Dict) -> str:
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"_base_": os.path.abspath(base), **body}, f)
    return path


def pretrain_encoder(out: str, iters: int, seed: int) -> str:
    """Train B0 on synthetic street frames; returns the path of its encoder's weights (backbone keys)."""
    from paddle_segformer.cli.train import train
    from paddle_segformer.data.cityscapes_prepare import prepare_cityscapes
    from paddle_segformer.data.synthetic_cityscapes import write_cityscapes
    from paddle_segformer.io.atomic import atomic_save

    root = os.path.join(out, "streets")
    write_cityscapes(root, frames_per_city=30, size=(128, 256), seed=seed)
    prepare_cityscapes(root)
    crop = [{"type": "RandomPaddingCrop", "crop_size": [128, 128]}, {"type": "RandomHorizontalFlip"},
            {"type": "Normalize"}]
    base = "configs/cityscapes/segformer_b0_cityscapes_1024x1024.yml"
    config = _write_config(os.path.join(out, "streets.yml"), base, {
        "model": {"backbone": {"pretrained": None}}, "batch_size": 8, "iters": iters,
        "train_dataset": {"dataset_root": root, "transforms": crop}, "val_dataset": {"dataset_root": root},
        "lr_scheduler": {"learning_rate": 0.002, "warmup_iters": 20, "warmup_start_lr": 1.0e-5},
        "optimizer": {"head_lr_mult": 1.0}})
    model = train(config, save_dir=os.path.join(out, "pretrain"), save_interval=iters, seed=seed, log_iters=50)
    path = os.path.join(out, "encoder_b0_streets.pdparams")
    atomic_save(dict(model.backbone.state_dict()), path)
    return path


def fine_tune(out: str, name: str, iters: int, eval_every: int, seed: int, pretrained: Optional[str]) -> List:
    """Train the parcel demo; returns [(iteration, val mIoU)] read from its VisualDL log."""
    from paddle_segformer.cli.train import train
    from paddle_segformer.report.figures import read_scalars

    data = os.path.join(out, "tiles")
    save_dir = os.path.join(out, name)
    train("configs/demo.yml", save_dir=save_dir, iters=iters, save_interval=eval_every, do_eval=True,
          use_vdl=True, seed=seed, log_iters=50, pretrained=pretrained or "none",
          opts=[f"train_dataset.dataset_root={data}", f"val_dataset.dataset_root={data}"])
    curve = read_scalars(save_dir, ("Evaluate/mIoU",))["Evaluate/mIoU"]
    return [(int(step), float(value)) for step, value in curve]


def plot(curves: Dict[str, List], path: str, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    for label, curve in curves.items():
        ax.plot([s for s, _ in curve], [v for _, v in curve], marker="o", label=label)
    ax.set_xlabel("fine-tuning iteration")
    ax.set_ylabel("validation mIoU")
    ax.set_title("Parcel demo (B0): pretrained encoder vs. from scratch", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.text(0.01, 0.01, note, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    from paddle_segformer.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def run(argv: Optional[List[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="evidence_output")
    p.add_argument("--pretrain_iters", type=int, default=600)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--eval_every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", help="PNG of the two mIoU curves")
    args = p.parse_args(argv)
    from paddle_segformer.data.split import split_dataset
    from paddle_segformer.data.synthetic import write_dataset
    from paddle_segformer.io.atomic import atomic_write_bytes

    os.makedirs(args.out, exist_ok=True)
    tiles = os.path.join(args.out, "tiles")
    write_dataset(tiles, n_train=320, n_test=0, size=256, seed=args.seed)
    split_dataset((0.7, 0.1, 0.2), os.path.join(tiles, "img_train"), os.path.join(tiles, "lab_train"), seed=0)
    encoder = pretrain_encoder(args.out, args.pretrain_iters, args.seed)
    curves = {"from scratch": fine_tune(args.out, "scratch", args.iters, args.eval_every, args.seed, None),
              "pretrained encoder (synthetic streets)": fine_tune(args.out, "pretrained", args.iters,
                                                                  args.eval_every, args.seed, encoder)}
    result = {"pretrain_iters": args.pretrain_iters, "iters": args.iters, "seed": args.seed, "curves": curves}
    atomic_write_bytes(os.path.join(args.out, "pretrain_evidence.json"), json.dumps(result, indent=1).encode())
    if args.plot:
        plot(curves, args.plot, f"pre-training: {args.pretrain_iters} iterations on synthetic street frames "
                                "(a stand-in for ImageNet); same seed and data for both runs")
    for label, curve in curves.items():
        logger.info("%s: %s", label, ", ".join(f"{s}: {v:.4f}" for s, v in curve))
    return result


if __name__ == "__main__":
    from paddle_segformer.cli.runtime import run_cli

    def main(argv: Optional[List[str]] = None) -> int:
        run(argv)
        return 0

    sys.exit(run_cli(main))
