"""Pictures of image | prediction overlay | ground truth for Cityscapes frames, with the official palette.

    python predict.py --config configs/cityscapes/segformer_b0_cityscapes_1024x1024.yml --model_path M \
        --image_path data/cityscapes/leftImg8bit/val --save_dir output/result --label_ids cityscapes
    python scripts/visualize.py --root data/cityscapes --predictions output/result/label --label_ids cityscapes \
        --save_dir output/panels
"""
import sys

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.cli.visualize import main

if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
