"""``python scripts/visualize.py --root DATA --predictions OUT/label --save_dir PANELS``: one
``image | prediction overlay | ground truth`` picture per Cityscapes frame, official palette and legend. No paddle.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..data import cityscapes_labels as cs
from ..data.cityscapes_layout import find_frames
from ..io.image import read_image, read_label, write_jpg
from ..report.palettes import palette
from ..report.panels import panel


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Pictures of image | prediction overlay | ground truth for the frames "
                                            "of a Cityscapes folder (official layout) and predict.py's label PNGs.")
    p.add_argument("--root", required=True, help="the folder holding leftImg8bit/ and gtFine/")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--predictions", required=True,
                   help="predict.py's label folder (OUT/label: <city>/<frame>_leftImg8bit.png)")
    p.add_argument("--label_ids", choices=("cityscapes",),
                   help="the predictions hold official labelIds (predict.py --label_ids cityscapes)")
    p.add_argument("--save_dir", required=True, help="where <city>/<frame>.jpg pictures go")
    p.add_argument("--width", type=int, default=640, help="width of each of the three parts (pixels)")
    p.add_argument("--limit", type=int, help="at most this many frames")
    return p


def run(argv: Optional[List[str]] = None) -> List[Path]:
    """Write the pictures; frames without a prediction are listed and skipped. Returns the pictures written."""
    from tqdm import tqdm

    args = build_parser().parse_args(argv)
    frames = find_frames(args.root, args.split)[:args.limit]
    table = palette(list(cs.PALETTE))
    written, missing = [], []
    for frame in tqdm(frames, desc="panels", unit="frame", disable=None):
        predicted = Path(args.predictions) / frame.image.parent.name / frame.image.name
        if not predicted.is_file():
            missing.append(str(predicted))
            continue
        prediction = read_label(predicted)
        if args.label_ids:
            prediction = cs.to_train_ids(prediction)
        label = frame.label()
        truth = None if label is None else read_label(label)
        if truth is not None and label == frame.label_ids:
            truth = cs.to_train_ids(truth)
        picture = panel(read_image(frame.image, channels=3), np.asarray(prediction), truth, table, cs.CLASS_NAMES,
                        width=args.width)
        out = Path(args.save_dir) / frame.image.parent.name / f"{frame.name}.jpg"
        write_jpg(out, picture)
        written.append(out)
    print(f"{len(written)} picture(s) -> {args.save_dir}")
    if missing:
        print(f"{len(missing)} frame(s) without a prediction skipped, e.g. {missing[0]}")
    return written


def main(argv: Optional[List[str]] = None) -> int:
    run(argv)
    return 0
