"""``python scripts/prepare_cityscapes.py --root DATA``: labelTrainIds PNGs and train/val lists. No paddle."""
from __future__ import annotations

import argparse
from typing import List, Optional

from ..data.cityscapes_prepare import LIST_SPLITS, PrepareReport, prepare_cityscapes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Write *_gtFine_labelTrainIds.png beside each official *_gtFine_labelIds.png of a Cityscapes "
                    "folder and the lists ROOT/train.txt, ROOT/val.txt (PaddleSeg format, relative to ROOT). "
                    "Files already converted are skipped.")
    p.add_argument("--root", required=True, help="the folder holding leftImg8bit/ and gtFine/")
    p.add_argument("--splits", nargs="+", default=list(LIST_SPLITS), choices=("train", "val", "test"),
                   help="splits to convert and list (default: train val)")
    p.add_argument("--workers", type=int, help="conversion threads (default: all cores)")
    return p


def run(argv: Optional[List[str]] = None) -> PrepareReport:
    """Parse arguments, convert, print what was written and what was skipped."""
    args = build_parser().parse_args(argv)
    report = prepare_cityscapes(args.root, args.splits, args.workers)
    print("\n".join(report.lines()))
    return report


def main(argv: Optional[List[str]] = None) -> int:
    return 3 if run(argv).failed else 0
