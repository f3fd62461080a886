"""The effective learning-rate schedule, stated before training; a rising rate is warned about."""
import logging

import paddle
import pytest

from paddle_segformer.engine.schedule import log_schedule, lr_at, summarize


def _article(iters=80000, warmup=1500, end_lr=0.0):
    poly = paddle.optimizer.lr.PolynomialDecay(6e-5, decay_steps=iters - warmup, power=1.0, end_lr=end_lr)
    return paddle.optimizer.lr.LinearWarmup(poly, warmup, 1e-6, 6e-5)


def test_rates_match_the_training_loop():
    scheduler = _article(iters=10, warmup=3)
    seen = []
    for _ in range(10):  # what paddleseg.core.train does: use last_lr, then step
        seen.append(scheduler.last_lr)
        scheduler.step()
    fresh = _article(iters=10, warmup=3)
    assert [lr_at(fresh, i) for i in range(10)] == pytest.approx(seen)
    assert fresh.last_epoch == 0  # probing does not move the real scheduler


def test_article_schedule_points():
    summary = summarize(_article(), 80000)
    assert [(label, it) for label, it, _ in summary.points] == [
        ("first", 1), ("after warm-up", 1501), ("middle", 40000), ("last", 80000)]
    assert [rate for *_, rate in summary.points] == pytest.approx([1e-6, 6e-5, 6e-5 * (1 - 38499 / 78500),
                                                                   6e-5 / 78500])
    assert summary.rise() is None
    assert summary.line().startswith("learning rate (1500-iteration LinearWarmup, then PolynomialDecay power 1")


def test_rising_rate_is_warned(caplog):
    rising = paddle.optimizer.lr.PolynomialDecay(6e-5, decay_steps=100, power=1.0)  # Paddle's end_lr 1e-4
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        log_schedule(rising, 100)
        log_schedule(_article(iters=100, warmup=10), 100)
        log_schedule(_article(iters=100, warmup=10, end_lr=2e-4), 100)  # rises after the warm-up
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "RISES" in warnings[0] and "end_lr 0.0001 is above learning_rate 6e-05" in warnings[0]
    assert "from 6e-05 at iteration 11" in warnings[1]
