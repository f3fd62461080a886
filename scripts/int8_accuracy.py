"""INT8 against float32 on a trained model: mIoU of both on the mini-Cityscapes validation frames.

    python scripts/int8_accuracy.py                     # B0 trained 400 iterations on synthetic street frames
    python scripts/int8_accuracy.py --iters 200 --out int8_output

Cityscapes itself cannot be downloaded here: the frames are the project's mini-Cityscapes in the official
layout (paddle_segformer.data.synthetic_cityscapes, 19 train ids, 128 x 256), trained from scratch with the
Cityscapes config (as scripts/pretrain_evidence.py does), then evaluated by ``val.py --precision int8``,
which quantises with accuracy control against the same validation list and logs INT8's metrics beside
float32's. Prints the two mIoUs and the drop, and where the INT8 model's record (int8.json) is.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
from typing import List, Optional

from pretrain_evidence import pretrain_encoder  # a sibling script: trains B0 on the street frames


def evaluate_int8(config: str, checkpoint: str, cache: str, calib: int) -> str:
    """val.py --precision int8 on ``config``'s validation list; returns its log."""
    command = [sys.executable, "val.py", "--config", config, "--model_path", checkpoint, "--precision", "int8",
               "--calib", str(calib), "--cache_dir", cache,
               "--opts", "test_config.is_slide=False"]  # whole 128 x 256 frames, one forward pass each
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"val.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="int8_output")
    p.add_argument("--iters", type=int, default=400)
    p.add_argument("--calib", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    pretrain_encoder(args.out, args.iters, args.seed)  # writes streets.yml and pretrain/iter_N/model.pdparams
    config = os.path.join(args.out, "streets.yml")
    checkpoint = os.path.join(args.out, "pretrain", f"iter_{args.iters}", "model.pdparams")
    log = evaluate_int8(config, checkpoint, os.path.join(args.out, "cache"), args.calib)
    lines = [line for line in log.splitlines() if re.search(r"mIoU|INT8|int8", line)]
    print("\n".join(lines[-12:]))
    for record in glob.glob(os.path.join(args.out, "cache", "*", "int8-*", "int8.json")):
        with open(record, encoding="utf-8") as f:
            accuracy = json.load(f)["accuracy"]
        print(f"\nrecord {record}:\n  float32 mIoU {accuracy.get('float_miou')}, INT8 mIoU {accuracy.get('int8_miou')}, "
              f"drop {accuracy.get('drop')} (limit {accuracy.get('limit')}, "
              f"{accuracy.get('validation_count')} validation frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
