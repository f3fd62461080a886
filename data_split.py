"""Entry point: python data_split.py 0.98 0.02 0 IMG_DIR LAB_DIR [--seed S] [--out_dir D]."""
import sys

from paddle_segformer.cli.data_split import main
from paddle_segformer.cli.runtime import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
