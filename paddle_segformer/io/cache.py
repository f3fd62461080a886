"""The package's cache folder (exported models, data-check summaries, downloaded weights)."""
from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$PADDLE_SEGFORMER_CACHE``, else ``$XDG_CACHE_HOME/paddle_segformer``, else ``~/.cache/paddle_segformer``."""
    if os.environ.get("PADDLE_SEGFORMER_CACHE"):
        return Path(os.environ["PADDLE_SEGFORMER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "paddle_segformer"
