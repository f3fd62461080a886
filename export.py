"""Entry point: see `python export.py --help` and paddle_segformer/cli/export.py."""
import sys

from paddle_segformer.cli.export import main  # imports no paddle: run_cli sets the threads first
from paddle_segformer.cli.runtime import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main))
