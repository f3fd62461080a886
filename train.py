"""Entry point: see `python train.py --help` and paddle_segformer/cli/train.py."""
import sys

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.cli.train import main  # imports no paddle: run_cli sets the threads first

if __name__ == "__main__":
    sys.exit(run_cli(main))
