"""Per-band mean, std and percentiles over rasters (nodata excluded), printed as a config snippet.

    python scripts/band_stats.py data/rgbn/img                  # every tif/png/jpg in the folder
    python scripts/band_stats.py --list data/rgbn/train.txt --root data/rgbn
"""
import argparse
import sys

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.data.band_stats import compute_band_stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", help="folder of images (recursively)")
    p.add_argument("--list", help="a PaddleSeg list file instead (first column = image)")
    p.add_argument("--root", default=".", help="dataset_root the list's paths are relative to")
    args = p.parse_args(argv)
    if args.list:
        from paddle_segformer.data.dataset import read_list_file

        paths = [image for image, _ in read_list_file(args.list, args.root, need_labels=False)]
    elif args.folder:
        from paddle_segformer.io.image import list_images

        paths = [str(p) for p in list_images(args.folder)]
    else:
        p.error("give a folder or --list")
    stats = compute_band_stats(paths)
    print(f"{len(paths)} file(s), {stats.count} valid pixels, {len(stats.mean)} band(s)")
    print(f"min {stats.minimum}\nmax {stats.maximum}")
    print("Paste into the dataset's transforms:")
    print(stats.snippet())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main, uses_paddle=False))
