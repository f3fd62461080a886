"""Entry point: python scripts/prepare_rs_parcels.py --zip train_and_label.zip --zip img_test.zip --out data/rs_parcels"""
import sys

from paddle_segformer.cli.prepare_rs_parcels import main
from paddle_segformer.cli.runtime import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
