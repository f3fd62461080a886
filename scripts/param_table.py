"""Print encoder / decoder parameter counts (millions, 150 classes as in the paper) for B0..B5."""
import logging

import numpy as np

from paddle_segformer.backbone import mit
from paddle_segformer.model import SegFormer
from paddle_segformer.variants import MIT_VARIANTS, PAPER_PARAMS_M


def count(model) -> tuple:
    """Trainable parameters (BatchNorm running statistics excluded), millions: (encoder, decoder)."""
    trainable = [(n, p) for n, p in model.named_parameters() if not p.stop_gradient]
    enc = sum(int(np.prod(p.shape)) for n, p in trainable if n.startswith("backbone."))
    dec = sum(int(np.prod(p.shape)) for n, p in trainable if not n.startswith("backbone."))
    return enc / 1e6, dec / 1e6


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print("| variant | encoder (M) | decoder (M) | paper encoder / decoder (M) |")
    print("| --- | --- | --- | --- |")
    for key in MIT_VARIANTS:
        enc, dec = count(SegFormer(150, mit(key)))
        paper = PAPER_PARAMS_M[key]
        print(f"| MiT-{key.upper()} | {enc:.3f} | {dec:.3f} | {paper[0]} / {paper[1]} |")


if __name__ == "__main__":
    main()
