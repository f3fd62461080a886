"""Entry point: see `python vectorize.py --help` and paddle_segformer/cli/vectorize.py."""
import sys

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.cli.vectorize import main

if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
