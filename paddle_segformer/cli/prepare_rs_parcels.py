"""``python scripts/prepare_rs_parcels.py --zip train_and_label.zip --zip img_test.zip --out data/rs_parcels``.

Unpacks the competition archives into the layout of ``configs/_base_/rs_parcels.yml`` (see
paddle_segformer.data.competition_zip). No paddle.
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from ..data.competition_zip import PrepareReport, prepare


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Unpack the parcel competition's zips (img_train/*.jpg, lab_train/*.png, "
                                            "img_testA/*.jpg under any top folder) and report what they hold.")
    p.add_argument("--zip", dest="archives", action="append", required=True, metavar="ZIP",
                   help="a competition archive (repeat for several)")
    p.add_argument("--out", default="data/rs_parcels", help="dataset folder (the configs' dataset_root)")
    p.add_argument("--num_classes", type=int, default=4, help="label values above this (but 255) are warned about")
    return p


def run(argv: Optional[List[str]] = None) -> PrepareReport:
    """Parse arguments, unpack, print the report and the next command."""
    args = build_parser().parse_args(argv)
    report = prepare(args.archives, args.out)
    print(report.summary(args.num_classes))
    print(f"next: python data_split.py 0.98 0.02 0 {args.out}/img_train {args.out}/lab_train --seed 0")
    return report


def main(argv: Optional[List[str]] = None) -> int:
    run(argv)
    return 0
