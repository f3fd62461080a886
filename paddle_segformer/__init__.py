"""paddle-segformer: SegFormer (MiT-B0..B5 + all-MLP decoder) for PaddlePaddle and PaddleSeg.

Importing this package changes nothing global and does not import paddle; call
:func:`register` to put the model, the backbones and the parcel dataset into PaddleSeg's managers.
"""
from __future__ import annotations

from typing import Any, Dict

__version__ = "0.1.0"

__all__ = ["__version__", "register", "unregister", "MIT_VARIANTS", "get_variant"]

from .variants import MIT_VARIANTS, get_variant  # noqa: E402  (pure python)


def register() -> Dict[str, Any]:
    """Register SegFormer, SegFormer_B0..B5, MixVisionTransformer(_B0..B5) and the datasets with PaddleSeg
    (idempotent).

    Also applies the fixes of :mod:`paddle_segformer.integration.compat` (PaddleSeg 2.8 on Paddle 3, and configs
    of PaddleSeg 2.4-2.7 read as they were read there) and patches PaddleSeg's ``SegBuilder`` as the package's
    tools use it (:mod:`paddle_segformer.integration.builder`).
    """
    from .integration.registry import register as _register

    return _register()


def unregister() -> None:
    """Undo :func:`register`, restoring whatever PaddleSeg had under the same names."""
    from .integration.registry import unregister as _unregister

    _unregister()
