"""Entry point: see `python predict.py --help` and paddle_segformer/cli/predict.py."""
import sys

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.machine import prepare_env

if __name__ == "__main__":
    prepare_env()  # thread settings must precede the paddle import
    from paddle_segformer.cli.predict import main

    sys.exit(run_cli(main))
