"""Print encoder / decoder parameter counts (millions, 150 classes as in the paper) for B0..B5: the README's table."""
import logging

from paddle_segformer.params import parameter_counts
from paddle_segformer.variants import MIT_VARIANTS, PAPER_PARAMS_M


def table() -> str:
    """The README's parameter table (markdown), one row per variant."""
    rows = ["| variant | encoder (M) | decoder (M) | paper encoder / decoder (M) |", "| --- | --- | --- | --- |"]
    for key in MIT_VARIANTS:
        enc, dec = parameter_counts(key, num_classes=150)
        paper = PAPER_PARAMS_M[key]
        rows.append(f"| MiT-{key.upper()} | {enc / 1e6:.3f} | {dec / 1e6:.3f} | {paper[0]} / {paper[1]} |")
    return "\n".join(rows)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print(table())


if __name__ == "__main__":
    main()
