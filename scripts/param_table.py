"""Print encoder / decoder parameter counts (millions, 150 classes as in the paper) for B0..B5."""
import logging

from paddle_segformer.model_summary import parameter_table


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print("| variant | encoder (M) | decoder (M) | paper encoder / decoder (M) |")
    print("| --- | --- | --- | --- |")
    for row in parameter_table(150):
        print(f"| {row['variant']} | {row['encoder (M)']:.3f} | {row['decoder (M)']:.3f} | {row['paper (M)']} |")


if __name__ == "__main__":
    main()
