"""``python data_split.py 0.98 0.02 0 IMG_DIR LAB_DIR [--seed S] [--out_dir D]``. No paddle."""
from __future__ import annotations

import argparse
from typing import List, Optional

from ..data.split import SplitResult, split_dataset


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Pair images and labels by file stem and write train/val/test lists.")
    p.add_argument("train", type=float, help="train ratio")
    p.add_argument("val", type=float, help="val ratio")
    p.add_argument("test", type=float, help="test ratio")
    p.add_argument("image_dir")
    p.add_argument("label_dir")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (same seed, same split)")
    p.add_argument("--out_dir", help="where the lists go (default: the common parent of the two folders)")
    p.add_argument("--separator", default=" ")
    return p


def run(argv: Optional[List[str]] = None) -> SplitResult:
    """Parse arguments, split, print where the lists went."""
    args = build_parser().parse_args(argv)
    result = split_dataset((args.train, args.val, args.test), args.image_dir, args.label_dir,
                           out_dir=args.out_dir, seed=args.seed, separator=args.separator)
    for name, path in result.files.items():
        print(f"{name}: {len(result.splits[name])} pairs -> {path}")
    if result.unpaired_images or result.unpaired_labels:
        print(f"unpaired: {len(result.unpaired_images)} image(s), {len(result.unpaired_labels)} label(s) left out")
    return result


def main(argv: Optional[List[str]] = None) -> int:
    run(argv)
    return 0
