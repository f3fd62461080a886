"""Entry point: python scripts/make_submission.py --labels output/result/label --test_dir data/rs_parcels/img_testA --out submission.zip"""
import sys

from paddle_segformer.cli.make_submission import main
from paddle_segformer.cli.runtime import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
