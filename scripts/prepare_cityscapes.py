"""Prepare a Cityscapes folder in the official layout for training.

    python scripts/prepare_cityscapes.py --root data/cityscapes

writes data/cityscapes/gtFine/<split>/<city>/<frame>_gtFine_labelTrainIds.png (trainIds 0..18, 255 ignored)
beside each official labelIds file, and data/cityscapes/train.txt, val.txt. Running it again converts only
what changed. Exit status 3 if a label file could not be converted (the others are still written).
"""
import sys

from paddle_segformer.cli.prepare_cityscapes import main
from paddle_segformer.cli.runtime import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
