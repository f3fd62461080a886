"""``python scripts/make_submission.py --labels output/result/label --test_dir data/rs_parcels/img_testA
--out submission.zip``: the competition's submission zip (see paddle_segformer.data.submission). No paddle."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

from ..data.submission import submission_zip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Zip one label PNG per test image (same stem, class ids as pixel values), "
                                            "checked first.")
    p.add_argument("--labels", default="output/result/label", help="the label/ folder predict.py wrote")
    p.add_argument("--test_dir", default="data/rs_parcels/img_testA", help="the test images")
    p.add_argument("--out", default="submission.zip")
    p.add_argument("--num_classes", type=int, default=4)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    out = submission_zip(args.labels, args.test_dir, args.out, args.num_classes)
    print(f"{out}: {Path(out).stat().st_size / 1024:.0f} KiB")
    return 0
