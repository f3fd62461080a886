"""Entry point: see `python val.py --help` and paddle_segformer/cli/val.py."""
import sys

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.cli.val import main  # imports no paddle: run_cli sets the threads first

if __name__ == "__main__":
    sys.exit(run_cli(main))
