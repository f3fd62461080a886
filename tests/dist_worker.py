"""Run by test_distributed through ``paddle.distributed.launch``: train, then dump this rank's weights."""
import sys

from paddle_segformer.cli.runtime import setup_logging
from paddle_segformer.machine import prepare_env

if __name__ == "__main__":
    prepare_env()
    setup_logging()
    import paddle

    from paddle_segformer.cli.train import train

    config, save_dir = sys.argv[1], sys.argv[2]
    model = train(config, save_dir=save_dir, iters=3, log_iters=1, save_interval=1, seed=0)
    rank = paddle.distributed.get_rank()
    paddle.save(model.state_dict(), f"{save_dir}/rank{rank}.pdparams")
    if rank == 0:  # same seed on both ranks: the weights every replica started from
        paddle.seed(0)
        from paddle_segformer.integration.config import load_config

        with paddle.utils.unique_name.guard():
            _, builder = load_config(config)
            paddle.save(builder.model.state_dict(), f"{save_dir}/initial.pdparams")
