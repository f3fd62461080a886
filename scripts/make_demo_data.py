"""Generate the synthetic parcel dataset (competition layout) used by the demo and tests.

    python scripts/make_demo_data.py --out demo_output/data --n_train 320 --n_test 16
"""
import argparse
import logging

from paddle_segformer.data.synthetic import write_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo_output/data")
    p.add_argument("--n_train", type=int, default=320, help="labelled tiles (img_train + lab_train)")
    p.add_argument("--n_test", type=int, default=16, help="unlabelled tiles (img_testA)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_dataset(args.out, args.n_train, args.n_test, args.size, args.seed)


if __name__ == "__main__":
    main()
