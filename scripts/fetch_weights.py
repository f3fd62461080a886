"""Put the ImageNet MiT weights the configs name into the cache ahead of training (machines without internet).

    python scripts/fetch_weights.py b0 b3          # download (once), check, record the sha256
    python scripts/fetch_weights.py --all          # b0 .. b5
    python scripts/fetch_weights.py --from DIR b3  # copy mix_vision_transformer_b3.tar.gz fetched elsewhere
    python scripts/fetch_weights.py                # what the cache holds

The cache is ~/.cache/paddle_segformer/weights ($PADDLE_SEGFORMER_CACHE/weights when set).
"""
import sys

from paddle_segformer.cli.fetch_weights import main
from paddle_segformer.cli.runtime import run_cli

if __name__ == "__main__":
    sys.exit(run_cli(main))
