"""Convert SegFormer weights between NVlabs (.pth), Hugging Face and Paddle (.pdparams).

    python scripts/convert_weights.py --src segformer.b0.512x512.ade.160k.pth --format nvlabs --out b0_ade.pdparams
    python scripts/convert_weights.py --src ./segformer-b0-finetuned-ade-512-512 --format hf --out b0_ade.pdparams
    python scripts/convert_weights.py --src mix_vision_transformer_b0.pdparams --format paddleseg --out mit_b0.pdparams
    python scripts/convert_weights.py --src output/best_model/model.pdparams --to hf --out ./my-segformer-b0 \
        --config configs/segformerb0.yml    # dropouts and ignore index of config.json from the training config

The variant, band count and class count are read from the checkpoint; --variant only checks them.
Reading .pth / .bin needs PyTorch (pip install torch); .safetensors and .pdparams do not.
"""
import argparse
import sys

from paddle_segformer.cli.runtime import run_cli


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="checkpoint file or Hugging Face folder")
    p.add_argument("--out", required=True, help=".pdparams file, or a folder with --to hf")
    p.add_argument("--format", choices=("nvlabs", "hf", "paddleseg"), help="source format (default: detect)")
    p.add_argument("--variant", help="b0..b5 (default: inferred from the weights)")
    p.add_argument("--to", choices=("paddle", "hf"), default="paddle", help="target format")
    p.add_argument("--trust_pickle", action="store_true", help="allow arbitrary pickles in .pth files")
    p.add_argument("--config", help="with --to hf: the training config, whose dropouts and ignore index go into "
                                    "config.json (default: the package's model defaults, ignore index 255)")
    args = p.parse_args(argv)
    if args.to == "hf":
        from paddle_segformer.integration.config import training_settings
        from paddle_segformer.weights.convert import to_hf
        from paddle_segformer.weights.reader import checkpoint_file, read_checkpoint

        training = training_settings(args.config) if args.config else None
        src = checkpoint_file(args.src)
        out, info = to_hf(read_checkpoint(src, args.trust_pickle), args.out, args.variant, training=training,
                          source=src)
        print(f"{args.src} -> {out} (MiT-{info.variant.upper()}, Hugging Face SegformerConfig + model.safetensors)")
    else:
        from paddle_segformer.weights.convert import convert_file

        info = convert_file(args.src, args.out, args.format, args.variant, args.trust_pickle)
        what = "backbone" if info.backbone_only else f"model with {info.num_classes} classes"
        print(f"{args.src} ({info.format}) -> {args.out}: MiT-{info.variant.upper()} {what}, "
              f"{info.in_channels} input band(s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
