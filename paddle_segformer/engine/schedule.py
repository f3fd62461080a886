"""The learning-rate schedule a run will follow, stated in one log line before it starts.

``paddleseg.core.train`` uses the scheduler's rate at epoch ``i - 1`` for iteration ``i`` and steps
it after every iteration, so iteration ``i`` trains with :func:`lr_at` ``(scheduler, i - 1)``.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import List, Optional, Tuple

import paddle

logger = logging.getLogger(__name__)


def lr_at(scheduler: paddle.optimizer.lr.LRScheduler, epoch: int) -> float:
    """The rate ``scheduler`` gives at ``epoch`` (0-based), computed on a copy: the original is untouched."""
    probe = copy.deepcopy(scheduler)
    probe.step(epoch)
    return float(probe.last_lr)


def _describe(scheduler: paddle.optimizer.lr.LRScheduler) -> str:
    name = type(scheduler).__name__
    if isinstance(scheduler, paddle.optimizer.lr.LinearWarmup):
        inner = scheduler.learning_rate
        inner_text = _describe(inner) if isinstance(inner, paddle.optimizer.lr.LRScheduler) else f"{inner:g}"
        return f"{scheduler.warmup_steps}-iteration LinearWarmup, then {inner_text}"
    if isinstance(scheduler, paddle.optimizer.lr.PolynomialDecay):
        return f"{name} power {scheduler.power:g}, end_lr {scheduler.end_lr:g}"
    if isinstance(scheduler, paddle.optimizer.lr.CosineAnnealingDecay):
        return f"{name} over {scheduler.T_max} iterations to {scheduler.eta_min:g}"
    return name


def fill_cosine_period(lr_cfg: Optional[dict], iters: int) -> Optional[int]:
    """Give a ``CosineAnnealingDecay`` config without ``T_max`` the iterations after its warm-up (PaddleSeg
    does the same for ``PolynomialDecay``'s ``decay_steps``): the rate reaches ``eta_min`` at the last
    iteration instead of the cosine turning back up. Returns the ``T_max`` set, or None (nothing to do)."""
    if not lr_cfg or lr_cfg.get("type") != "CosineAnnealingDecay" or "T_max" in lr_cfg:
        return None
    lr_cfg["T_max"] = max(int(iters) - int(lr_cfg.get("warmup_iters", 0)), 1)
    return lr_cfg["T_max"]


@dataclass
class ScheduleSummary:
    """Rates at the iterations that matter: (label, iteration, rate)."""

    description: str
    points: List[Tuple[str, int, float]]
    warmup: int

    def line(self) -> str:
        rates = ", ".join(f"{rate:.3g} at iteration {it} ({label})" for label, it, rate in self.points)
        return f"learning rate ({self.description}): {rates}"

    def rise(self) -> Optional[Tuple[int, float, int, float]]:
        """(start iteration, rate, end iteration, rate) if the rate after any warm-up ends higher than it started."""
        after = [(it, rate) for label, it, rate in self.points if it > self.warmup]
        if len(after) >= 2 and after[-1][1] > after[0][1] * (1 + 1e-6):
            return after[0] + after[-1]
        return None


def summarize(scheduler: paddle.optimizer.lr.LRScheduler, iters: int) -> Optional[ScheduleSummary]:
    """Rates at the first iteration, after the warm-up, in the middle and at the last; None if not describable."""
    if not isinstance(scheduler, paddle.optimizer.lr.LRScheduler) or isinstance(
            scheduler, paddle.optimizer.lr.ReduceOnPlateau):
        return None
    warmup = int(getattr(scheduler, "warmup_steps", 0)) if isinstance(
        scheduler, paddle.optimizer.lr.LinearWarmup) else 0
    wanted = [("first", 1)]
    if 0 < warmup < iters:
        wanted.append(("after warm-up", warmup + 1))
    wanted += [("middle", max(1, iters // 2)), ("last", iters)]
    points, seen = [], set()
    for label, it in wanted:
        if it not in seen:
            seen.add(it)
            points.append((label, it, lr_at(scheduler, it - 1)))
    return ScheduleSummary(_describe(scheduler), points, warmup)


def log_schedule(scheduler: paddle.optimizer.lr.LRScheduler, iters: int) -> Optional[ScheduleSummary]:
    """Log the effective schedule in one line; warn if the rate rises over the run after any warm-up."""
    summary = summarize(scheduler, iters)
    if summary is None:
        logger.info("learning rate: %s (not summarised)", type(scheduler).__name__)
        return None
    logger.info(summary.line())
    rise = summary.rise()
    if rise:
        start_it, start, end_it, end = rise
        hint = ""
        inner = getattr(scheduler, "learning_rate", scheduler)
        if isinstance(inner, paddle.optimizer.lr.PolynomialDecay) and inner.end_lr > inner.base_lr:
            hint = f": PolynomialDecay end_lr {inner.end_lr:g} is above learning_rate {inner.base_lr:g}"
        logger.warning("the learning rate RISES from %.3g at iteration %d to %.3g at iteration %d, outside any "
                       "warm-up%s; is that intended?", start, start_it, end, end_it, hint)
    return summary
