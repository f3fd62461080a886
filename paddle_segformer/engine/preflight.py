"""What a training run is checked for before its first iteration: a train list that gives every process at
least one batch (PaddleSeg's loader drops the last partial batch: with fewer samples than one batch it yields
nothing and its loop waits forever), and room on the disk for the checkpoints it will keep."""
from __future__ import annotations

import math
from typing import Any

# A checkpoint holds the weights and AdamW's two moment buffers: three float32 copies of the parameters.
CHECKPOINT_COPIES = 3


def check_one_batch(samples: int, batch_size: int, processes: int, where: str) -> None:
    """Raise ValueError unless each of ``processes`` gets at least one full batch of ``batch_size`` from a
    train list of ``samples`` (PaddleSeg's distributed sampler gives each ceil(samples / processes))."""
    per_process = math.ceil(samples / max(processes, 1))
    if per_process < batch_size:
        spread = f" over {processes} processes ({per_process} each)" if processes > 1 else ""
        raise ValueError(f"{where}: the train list has {samples} sample(s){spread}, fewer than one batch of "
                         f"{batch_size}: training would never get a batch; lower --batch_size or add data")


def checkpoint_bytes(model: Any) -> int:
    """About what one ``iter_N`` checkpoint of ``model`` takes on disk (weights and optimizer state)."""
    params = sum(int(math.prod(p.shape)) for p in model.parameters())
    return CHECKPOINT_COPIES * 4 * params


def kept_checkpoints(iters: int, save_interval: int, keep_checkpoint_max: int, best_model: bool) -> int:
    """How many checkpoints a run keeps on disk at once at most: ``keep_checkpoint_max``, one more that the
    divergence guard may spare (its last good one), and ``best_model``."""
    saves = max(1, iters // max(save_interval, 1))
    return min(saves, max(keep_checkpoint_max, 1) + 1) + int(best_model)
