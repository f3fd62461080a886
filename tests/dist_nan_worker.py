"""Run by test_distributed_nan through ``paddle.distributed.launch``: train.py's main with a NaN in one
process from iteration ``NAN_FROM`` on, then train.py's exit status. ``NAN_IN`` (environment) says where:

- ``loss``: rank 1's loss value is NaN while its gradients stay finite (as an Inf loss with finite softmax
  gradients would be), so only that process sees the problem;
- ``batchnorm``: rank 0's BatchNorm running mean becomes NaN (losses and gradients stay finite), so only
  rank 0, the one that writes checkpoints, would find out, when saving;
- ``activation``: rank 1's first-stage activation is NaN in iteration ``NAN_FROM`` only (a NaN born in the
  forward pass, which has already moved that process's BatchNorm statistics). Every process writes its
  statistics as they are before each training forward to ``running_rank<R>_<N>.npy`` in the working folder.
"""
import importlib
import os
import sys

from paddle_segformer.cli.runtime import run_cli, setup_logging
from paddle_segformer.machine import prepare_env

NAN_FROM = 2


def _watch_forward(model, rank: int) -> None:
    """Record the running statistics before every training forward; poison rank 1's NAN_FROM-th activation."""
    import numpy as np

    calls = []
    norm = model.linear_fuse._batch_norm

    def record(layer, inputs):
        if layer.training:
            calls.append(1)
            np.save(f"running_rank{rank}_{len(calls)}.npy", np.stack([norm._mean.numpy(), norm._variance.numpy()]))

    def poison(layer, inputs, output):
        if layer.training and rank == 1 and len(calls) == NAN_FROM:
            return output * float("nan")
        return None

    model.register_forward_pre_hook(record)
    model.backbone.block1[0].register_forward_post_hook(poison)


def _inject() -> None:
    import numpy as np
    import paddle

    from paddle_segformer.cli import train as train_cli

    module = importlib.import_module("paddleseg.core.train")
    original, calls, models, build = module.loss_computation, [], [], train_cli.build
    where, rank = os.environ["NAN_IN"], paddle.distributed.get_rank()

    def keep(builder, what, path):
        built = build(builder, what, path)
        if what == "model":
            models.append(built)
            if where == "activation":
                _watch_forward(built, rank)
        return built

    def loss_computation(*args, **kwargs):
        losses = original(*args, **kwargs)
        calls.append(1)
        if len(calls) < NAN_FROM:
            return losses
        if where == "loss" and rank == 1:
            return [loss + (float("nan") - loss.detach()) for loss in losses]  # value NaN, gradient unchanged
        if where == "batchnorm" and rank == 0:
            mean = models[0].linear_fuse._batch_norm._mean
            mean.set_value(np.full(mean.shape, np.nan, dtype="float32"))
        return losses

    train_cli.build, module.loss_computation = keep, loss_computation


if __name__ == "__main__":
    prepare_env()
    setup_logging()
    _inject()
    from paddle_segformer.cli.train import main

    sys.exit(run_cli(main, sys.argv[1:]))
