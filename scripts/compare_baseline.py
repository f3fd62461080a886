"""Print SegFormer's held-out metrics next to per-pixel colour baselines on the same tiles.

    python scripts/compare_baseline.py --config configs/demo.yml --metrics demo_output/eval/metrics.json \
        --dataset_root demo_output/data --eval_list test.txt
"""
import argparse
import json
import sys
from typing import List, Optional

import numpy as np

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.data.synthetic import CLASS_NAMES
from paddle_segformer.io.atomic import atomic_path
from paddle_segformer.report.baseline import evaluate_baseline


def _dataset_lists(config: str, dataset_root: Optional[str], eval_list: Optional[str]):
    """(train pairs, evaluation pairs); the config gives the defaults."""
    from paddleseg.cvlibs.config import parse_from_yaml

    from paddle_segformer.data.dataset import read_list_file

    cfg = parse_from_yaml(config)
    train, val = cfg["train_dataset"], cfg["val_dataset"]
    return (read_list_file(train["train_path"], dataset_root or train["dataset_root"]),
            read_list_file(eval_list or val["val_path"], dataset_root or val["dataset_root"]))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--metrics", required=True, help="metrics.json written by val.py --save_dir")
    p.add_argument("--dataset_root", help="overrides the config's dataset_root")
    p.add_argument("--eval_list", help="list of the held-out tiles (default: the config's val_path)")
    p.add_argument("--num_classes", type=int, default=len(CLASS_NAMES))
    p.add_argument("--out", help="also write the comparison as JSON here")
    args = p.parse_args(argv)
    with open(args.metrics, encoding="utf-8") as handle:
        model = json.load(handle)
    train_pairs, val_pairs = _dataset_lists(args.config, args.dataset_root, args.eval_list)
    bases = {m: evaluate_baseline(train_pairs, val_pairs, args.num_classes, method=m)
             for m in ("nearest_mean", "histogram")}
    columns = [("SegFormer-B0", model), ("nearest colour", bases["nearest_mean"]),
               ("colour histogram", bases["histogram"])]
    rows = [("mIoU", "miou", None), ("pixel accuracy", "acc", None), ("kappa", "kappa", None)]
    rows += [(f"IoU {name}", "class_iou", i) for i, name in enumerate(CLASS_NAMES)]
    print(f"\nHeld-out tiles: {len(val_pairs)}; colour baselines fitted on the {len(train_pairs)} training tiles")
    print(f"{'metric':<18}" + "".join(f"{title:>18}" for title, _ in columns))
    for label, key, i in rows:
        print(f"{label:<18}" + "".join(f"{(m[key] if i is None else m[key][i]):>18.4f}" for _, m in columns))
    if args.out:
        with atomic_path(args.out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            json.dump({title: {k: (np.asarray(m[k]).tolist()) for k in ("miou", "acc", "kappa", "class_iou")}
                       for title, m in columns}, handle, indent=2)
    best_colour = max(b["miou"] for b in bases.values())
    return 0 if model["miou"] > best_colour else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
