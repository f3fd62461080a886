"""Run by test_distributed_nan through ``paddle.distributed.launch``: train.py's main, but from iteration
``NAN_FROM`` on, rank 1's loss value is NaN while its gradients stay finite (as an Inf loss with finite
softmax gradients would be), so only that process sees the problem. Exits with train.py's status."""
import importlib
import sys

from paddle_segformer.cli.runtime import prepare_env, run_cli, setup_logging

NAN_FROM = 2


def _nan_loss_on_rank_1() -> None:
    import paddle

    module = importlib.import_module("paddleseg.core.train")
    original, calls = module.loss_computation, []

    def loss_computation(*args, **kwargs):
        losses = original(*args, **kwargs)
        calls.append(1)
        if paddle.distributed.get_rank() == 1 and len(calls) >= NAN_FROM:
            return [loss + (float("nan") - loss.detach()) for loss in losses]  # value NaN, gradient unchanged
        return losses

    module.loss_computation = loss_computation


if __name__ == "__main__":
    prepare_env()
    setup_logging()
    _nan_loss_on_rank_1()
    from paddle_segformer.cli.train import main

    sys.exit(run_cli(main, sys.argv[1:]))
