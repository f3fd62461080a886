"""Divergence guard for PaddleSeg's training loop: non-finite losses and gradients, never a NaN checkpoint.

What it watches (the stand-ins are put in for one ``paddleseg.core.train`` call, and taken out afterwards,
by :mod:`paddle_segformer.engine.hooks`):

- the loop's ``loss_computation``: each loss of the iteration is checked for NaN / Inf;
- the model's ``forward`` (training mode): its running state (BatchNorm statistics) is copied first
  (:mod:`paddle_segformer.engine.running_state`), so a skipped iteration puts it back: a NaN born in the
  forward pass (a poisoned input, an activation overflowing) leaves neither weights nor statistics changed;
- ``optimizer.step`` (fp32 path): the global gradient norm is checked; on a non-finite loss or norm
  the update is skipped (as ``GradScaler`` does in fp16), so the weights stay finite;
- ``model.clear_gradients`` (called once at the end of every iteration): counts consecutive bad
  iterations and stops with :class:`TrainingDiverged` after ``patience`` of them;
- ``paddle.save`` inside the loop: a state dict with non-finite values is never written (neither
  ``iter_N`` nor ``best_model``); training stops instead;
- ``shutil.rmtree`` (``keep_checkpoint_max``): the last good checkpoint, which a rollback or the stop
  message's resume needs, is spared until a newer good one exists (:meth:`DivergenceGuard.protects`);
- the GradScaler PaddleSeg makes for fp16 (kept by :class:`~paddle_segformer.engine.loss_scale.ScalerWatch`):
  its state is saved in every ``iter_N`` (``scaler.pdstates``, by :mod:`paddle_segformer.engine.hooks`) and a
  rollback can lower its loss scale.

With ``policy="rollback"`` a run of ``patience`` bad iterations reloads the last good checkpoint
(weights and optimizer state; the learning-rate schedule keeps its place), halves the loss scale when
AMP is on, and goes on, at most ``max_rollbacks`` times.

Under ``paddle.distributed.launch`` every iteration's verdict (and rank 0's last good checkpoint) is
agreed by all processes (:mod:`paddle_segformer.engine.rank_agreement`): a NaN in one process's loss skips the
update, stops or rolls back everywhere at the same iteration. Before an iteration that saves, every
process checks its weights, and all stop if any holds NaN / Inf (only rank 0 writes checkpoints).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional

import numpy as np

from .loss_scale import ScalerWatch, lower_loss_scale
from .rank_agreement import agree, average, world_size
from .running_state import RunningState, running_tensors

logger = logging.getLogger(__name__)

EXIT_STATUS = 4  # documented in the README; 2 is for input errors, 3 for partly failed predictions
POLICIES = ("stop", "rollback")
ITER_DIR = re.compile(r"^iter_(\d+)$")
CHECKPOINT_FILES = ("model.pdparams", "model.pdopt")  # what PaddleSeg's loop writes into an iter_N folder


def newest_complete_checkpoint(save_dir: str) -> Optional[str]:
    """The ``iter_N`` folder under ``save_dir`` with the largest N that holds every file of a checkpoint
    (a run killed while it saved leaves ``model.pdparams`` without ``model.pdopt``), or None."""
    found = []
    for name in os.listdir(save_dir) if os.path.isdir(save_dir) else []:
        match, path = ITER_DIR.match(name), os.path.join(save_dir, name)
        if match and all(os.path.isfile(os.path.join(path, f)) for f in CHECKPOINT_FILES):
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


@dataclass(frozen=True)
class DivergenceOptions:
    """``patience``: consecutive iterations with a non-finite loss or gradient norm before acting;
    ``policy``: "stop" or "rollback" (to the last good checkpoint, at most ``max_rollbacks`` times)."""

    patience: int = 3
    policy: str = "stop"
    max_rollbacks: int = 3

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"--nan_patience must be at least 1, got {self.patience}")
        if self.policy not in POLICIES:
            raise ValueError(f"--nan_policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")


class TrainingDiverged(RuntimeError):
    """Training stopped because losses, gradients or weights became NaN / Inf."""

    exit_status = EXIT_STATUS


def _as_array(value: Any) -> Optional[np.ndarray]:
    if hasattr(value, "numpy") and hasattr(value, "dtype"):
        value = value.numpy()
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value
    return None


def non_finite_keys(state: Mapping[str, Any], prefix: str = "") -> List[str]:
    """Keys (nested ones joined by '/') whose floating-point values hold NaN or Inf."""
    bad = []
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            bad += non_finite_keys(value, name + "/")
            continue
        array = _as_array(value)
        if array is not None and not np.isfinite(array).all():
            bad.append(name)
    return bad


def grad_norm(parameters: List[Any]) -> float:
    """Global L2 norm of the gradients present (0.0 if none); NaN / Inf if any gradient is."""
    import paddle

    squares = [paddle.sum(paddle.square(p.grad.astype("float32"))) for p in parameters
               if getattr(p, "grad", None) is not None]
    return math.sqrt(float(paddle.add_n(squares))) if squares else 0.0


def iteration_of(checkpoint: Optional[str]) -> int:
    """The N of an ``iter_N`` folder (0 for none)."""
    if not checkpoint:
        return 0
    return int(os.path.normpath(checkpoint).rsplit("_", 1)[-1])


class DivergenceGuard:
    """Counts bad iterations of one training run and keeps NaN / Inf out of its checkpoints."""

    def __init__(self, options: DivergenceOptions, resume_model: Optional[str] = None,
                 save_dir: Optional[str] = None, save_interval: Optional[int] = None, iters: Optional[int] = None):
        self.options = options
        self.iteration = iteration_of(resume_model)  # iterations finished so far
        self.last_good: Optional[str] = resume_model
        self.save_dir = save_dir  # where rank 0 writes iter_N (other ranks learn N through agree())
        self.save_interval, self.iters = save_interval, iters  # when the loop saves (as paddleseg.core.train)
        self.weights: Optional[Callable[[], Mapping[str, Any]]] = None  # the model's state (set by engine.hooks)
        self.consecutive = 0
        self.skipped = 0
        self.rollbacks = 0
        self.amp: Optional[ScalerWatch] = None  # the loop's paddle.amp (set by engine.hooks)
        self.restore: Optional[Callable[[str], None]] = None  # reloads a checkpoint (set by engine.hooks)
        self.running: Optional[RunningState] = None  # the model's running state before its forward (engine.hooks)
        self._loss: Optional[float] = None
        self._norm: Optional[float] = None
        self._verdict: Optional[bool] = None  # this iteration's agreed verdict, once taken

    # --- per-iteration checks -------------------------------------------------------------
    def record_losses(self, losses: List[Any]) -> None:
        """Called with the iteration's losses; keeps their total."""
        self._loss = sum(float(np.asarray(loss.numpy(), dtype=np.float64).sum()) for loss in losses)

    def guarded_step(self, step: Callable[[], Any], parameters: List[Any]) -> Any:
        """Run the optimizer's ``step`` unless the loss or the gradient norm is non-finite."""
        self._norm = grad_norm(parameters)
        self._verdict = self._agreed_bad()
        if self._verdict:
            self.skipped += 1
            return None
        return step()

    def _bad(self) -> bool:
        return any(v is not None and not math.isfinite(v) for v in (self._loss, self._norm))

    def _agreed_bad(self) -> bool:
        """Whether any process of the job had a non-finite loss or gradient norm this iteration; rank 0's
        last good checkpoint becomes every process's (paddle_segformer.engine.rank_agreement)."""
        own_good = iteration_of(self.last_good)
        bad, good = agree([self._bad(), own_good])
        if good > own_good and self.save_dir:
            self.last_good = os.path.abspath(os.path.join(self.save_dir, f"iter_{good}"))
        return bool(bad)

    def end_iteration(self) -> None:
        """Count the iteration just finished; raise once ``patience`` bad ones ran in a row (or roll back).
        Then, in a multi-process job, the weights are checked if the loop saves now."""
        self.iteration += 1
        self._judge()
        self._check_weights_before_save()

    def _judge(self) -> None:
        bad = self._verdict if self._verdict is not None else self._agreed_bad()
        own, loss, norm = self._bad(), self._loss, self._norm
        self._loss = self._norm = self._verdict = None
        if not bad:
            self.consecutive = 0
            return
        self.consecutive += 1
        if self.running is not None:
            self.running.restore()  # in every process: the iteration is skipped everywhere
        what = (f"loss {loss}" + ("" if norm is None else f", gradient norm {norm}")) if own else \
            "loss or gradient norm in another process"
        if self.consecutive < self.options.patience:
            logger.warning("iteration %d: non-finite %s; update skipped (%d/%d before stopping)",
                           self.iteration, what, self.consecutive, self.options.patience)
        elif self._can_roll_back():
            self._roll_back(what)
        else:
            raise TrainingDiverged(self._message(f"{self.consecutive} consecutive iterations with a non-finite "
                                                 f"loss or gradient norm ({what})"))

    def _check_weights_before_save(self) -> None:
        """In a multi-process job, before an iteration that saves: the running state (BatchNorm statistics,
        which each process gathers from its own batches on a CPU without SyncBatchNorm) is averaged over the
        processes, so that every replica, and rank 0's checkpoint, holds the same; then every process checks
        its weights and all stop together if any holds NaN / Inf (only rank 0 writes; its refusal alone would
        leave the others waiting in their next all-reduce)."""
        if self.weights is None or not self.save_interval or world_size() < 2 or not (
                self.iteration % self.save_interval == 0 or self.iteration == self.iters):
            return
        if self.running is not None:
            average(running_tensors(self.running.model))
        bad = non_finite_keys(self.weights())
        if agree([bool(bad)])[0]:
            where = f"non-finite values in {', '.join(bad[:3])}" if bad else "non-finite weights in another process"
            raise TrainingDiverged(self._message(f"{where}; not writing iter_{self.iteration}"))

    def _can_roll_back(self) -> bool:
        return (self.options.policy == "rollback" and self.last_good is not None and self.restore is not None
                and self.rollbacks < self.options.max_rollbacks)

    def _roll_back(self, what: str) -> None:
        assert self.restore is not None and self.last_good is not None
        self.restore(self.last_good)
        self.rollbacks += 1
        self.consecutive = 0
        scale = lower_loss_scale(self.amp.scaler if self.amp else None)
        logger.warning("iteration %d: %d consecutive non-finite iterations (%s); rolled back to %s "
                       "(rollback %d/%d)%s", self.iteration, self.options.patience, what, self.last_good,
                       self.rollbacks, self.options.max_rollbacks,
                       "" if scale is None else f", loss scale now {scale:g}")

    def _message(self, why: str) -> str:
        good = self.last_good or "none written in this run"
        return (f"training diverged at iteration {self.iteration}: {why}; last good checkpoint: {good}; "
                "try fp32 (no --fp16), a lower --learning_rate, or --amp_level O1"
                + (f", resuming with --resume_model {self.last_good}" if self.last_good else ""))

    # --- checkpoints --------------------------------------------------------------------------
    def check_save(self, obj: Any, path: str) -> None:
        """Raise instead of writing ``obj`` to ``path`` if it holds non-finite values."""
        bad = non_finite_keys(obj) if isinstance(obj, Mapping) else []
        if not bad:
            return
        folder = os.path.dirname(os.path.abspath(path))
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # only if PaddleSeg's makedirs left it empty
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise TrainingDiverged(self._message(f"not writing {path}: non-finite values in {shown}"))

    def protects(self, folder: str) -> bool:
        """Whether ``folder`` is the last good checkpoint (a rollback or a resume needs it: never deleted)."""
        return self.last_good is not None and os.path.abspath(folder) == os.path.abspath(self.last_good)

    def saved(self, path: str) -> None:
        """Note a written file: an ``iter_N`` folder is the last good checkpoint once its optimizer state
        is in, if no bad iteration preceded it (finite weights written during a bad run do not count)."""
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(path) != "model.pdopt" or not ITER_DIR.match(os.path.basename(folder)):
            return
        if self.consecutive == 0:
            self.last_good = folder


def restore_checkpoint(model: Any, optimizer: Any, folder: str) -> None:
    """Load ``folder``'s weights and optimizer state, keeping the optimizer's learning-rate schedule where it is."""
    import paddle

    schedule = optimizer._learning_rate  # PaddleSeg's loop reads it the same way
    position = schedule.state_dict() if isinstance(schedule, paddle.optimizer.lr.LRScheduler) else None
    model.set_state_dict(paddle.load(os.path.join(folder, "model.pdparams")))
    optimizer.set_state_dict(paddle.load(os.path.join(folder, "model.pdopt")))
    if position is not None:
        schedule.set_state_dict(position)
