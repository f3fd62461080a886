"""fp16 loss scaling across checkpoints: PaddleSeg's GradScaler state saved beside the weights and restored.

PaddleSeg 2.8's loop makes its ``GradScaler`` itself and saves only weights and optimizer state, so a
resumed fp16 run starts again at loss scale 1024 and re-learns the scale. :class:`ScalerWatch` stands in
for ``paddle.amp`` inside the loop: it keeps the scaler it makes and loads ``scaler.pdstates`` of the
resume folder into it. On a CPU the scaler is disabled (Paddle 3.3.1) and there is nothing to keep.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

import numpy as np

logger = logging.getLogger(__name__)

SCALER_FILE = "scaler.pdstates"


def _enabled_state(scaler: Optional[Any]) -> dict:
    """The scaler's state; empty for no scaler or a disabled one (CPU)."""
    return scaler.state_dict() if scaler is not None else {}


def lower_loss_scale(scaler: Optional[Any], factor: float = 0.5) -> Optional[float]:
    """Multiply an enabled GradScaler's loss scale by ``factor``; returns the new scale (None: no AMP)."""
    state = _enabled_state(scaler)
    if not state:
        return None
    state["scale"] = np.asarray(state["scale"], dtype=np.float32) * factor
    scaler.load_state_dict(state)
    return float(state["scale"][0])


def save_scaler_state(scaler: Optional[Any], folder: str) -> Optional[str]:
    """Write an enabled scaler's state to ``folder/scaler.pdstates`` (atomically); returns the path or None."""
    from ..io.atomic import atomic_save

    state = _enabled_state(scaler)
    if not state:
        return None
    path = os.path.join(folder, SCALER_FILE)
    atomic_save(state, path)
    return path


def load_scaler_state(scaler: Any, folder: Optional[str]) -> bool:
    """Load ``folder/scaler.pdstates`` into an enabled scaler; False when there is no file or no AMP."""
    import paddle

    path = os.path.join(folder, SCALER_FILE) if folder else ""
    if not path or not os.path.isfile(path) or not _enabled_state(scaler):
        return False
    scaler.load_state_dict(paddle.load(path))
    logger.info("loss scale restored from %s: %g", path, float(np.asarray(scaler.state_dict()["scale"])[0]))
    return True


class ScalerWatch:
    """Stands in for ``paddle.amp``: the GradScaler it makes is kept in ``scaler``, resumed from ``resume``."""

    def __init__(self, module: Any, resume: Optional[str] = None):
        self._module, self.resume, self.scaler = module, resume, None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def GradScaler(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 (paddle's name)
        self.scaler = self._module.GradScaler(*args, **kwargs)
        load_scaler_state(self.scaler, self.resume)
        return self.scaler
