"""``python scripts/fetch_weights.py b0 b3 | --all | --from DIR [b0 ...]``: the ImageNet MiT weights the configs
name (``configs/_base_/mit_bN.yml``) put into the cache ahead of training, for machines without internet.

Each file is downloaded (or copied from ``--from DIR``, where files fetched elsewhere were copied), checked to
hold the variant's encoder key for key and shape for shape, and its sha256 recorded
(:mod:`paddle_segformer.weights.pretrained_cache`). Without arguments: what the cache holds. Prints each file's
path, size and sha256.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import List, Optional

from ..integration.config_facts import pretrained_url
from ..io.paths import format_size
from ..variants import MIT_VARIANTS, variant_key
from ..weights.pretrained_cache import (PretrainedFile, cache_path, cached_files, import_file, locate,
                                        recorded_sha256, weights_cache_dir)


def fetch(variant: str, url: str, copied: Optional[os.PathLike] = None) -> PretrainedFile:
    """``url``'s file in the cache: downloaded if missing (or copied from the file ``copied``), checked to be
    ``variant``'s encoder without loading it (the model built under ``paddle.LazyGuard``), its sha256 recorded."""
    import paddle

    from ..models.backbone import mit
    from ..weights.loading import verify_pretrained

    found = import_file(copied, url) if copied else locate(url)
    with paddle.LazyGuard():
        expected = mit(variant).state_dict()
    verify_pretrained(expected, found)
    return found


def _copied_file(folder: Path, url: str) -> Optional[Path]:
    """The file named like ``url``'s (``mix_vision_transformer_b3.tar.gz``) in ``folder`` or below it."""
    name = cache_path(url).name
    return next(iter(sorted(folder.rglob(name))), None)


def _plan(variants: List[str], everything: bool, source: Optional[Path]) -> List[tuple]:
    """(variant, url, copied file or None) for each variant to fetch."""
    keys = list(MIT_VARIANTS) if everything else [variant_key(v) for v in variants]
    if source is None:
        return [(key, pretrained_url(key), None) for key in keys]
    if not source.is_dir():
        raise FileNotFoundError(f"--from {source}: not a folder")
    found = [(key, pretrained_url(key)) for key in (keys or list(MIT_VARIANTS))]
    plan = [(key, url, _copied_file(source, url)) for key, url in found]
    missing = [cache_path(url).name for key, url, copied in plan if copied is None and key in keys]
    if missing or not any(copied for _, _, copied in plan):
        wanted = missing or [cache_path(url).name for _, url in found]
        raise FileNotFoundError(f"--from {source}: no {' / '.join(wanted)} in it (copy the files fetched on a "
                                "machine with network there)")
    return [step for step in plan if step[2] is not None]


def _line(name: str, path: os.PathLike, sha256: Optional[str], note: str = "") -> str:
    return f"{name}  {path}  {format_size(Path(path).stat().st_size)}  sha256 {sha256 or '?'}{note}"


def _listing() -> None:
    files = cached_files()
    print(f"{weights_cache_dir()}: {len(files)} file(s)")
    for path in files:
        recorded = recorded_sha256(path)
        print(_line("-", path, recorded, "" if recorded else "  (not yet checked: used once it loads)"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Put the ImageNet MiT weights the configs name into the cache "
                                            "(checked, sha256 recorded), for training without internet.")
    p.add_argument("variants", nargs="*", metavar="bN", help="b0 .. b5 (none: list what the cache holds)")
    p.add_argument("--all", action="store_true", help="every variant, b0 .. b5")
    p.add_argument("--from", dest="source", metavar="DIR",
                   help="copy the files from this folder (fetched on another machine) instead of downloading")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    source = Path(args.source) if args.source else None
    if not (args.variants or args.all or source):
        _listing()
        return 0
    for key, url, copied in _plan(args.variants, args.all, source):
        found = fetch(key, url, copied)
        print(_line(key, found.path, found.sha256))
    return 0
