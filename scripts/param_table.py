"""Print encoder / decoder parameter counts (millions, 150 classes as in the paper) for B0..B5: the README's table."""
import logging

from paddle_segformer.models.summary import parameter_table


def table() -> str:
    """The README's parameter table (markdown), one row per variant."""
    rows = ["| variant | encoder (M) | decoder (M) | paper encoder / decoder (M) |", "| --- | --- | --- | --- |"]
    for row in parameter_table(150):
        rows.append(f"| {row['variant']} | {row['encoder (M)']:.3f} | {row['decoder (M)']:.3f} | {row['paper (M)']} |")
    return "\n".join(rows)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print(table())


if __name__ == "__main__":
    main()
