"""The demo's claim at small scale: trained on synthetic tiles, SegFormer beats colour-only rules."""
import pytest

from paddle_segformer.cli.train import train
from paddle_segformer.cli.val import evaluate
from paddle_segformer.data.dataset import read_list_file
from paddle_segformer.data.split import split_dataset
from paddle_segformer.data.synthetic import write_dataset
from paddle_segformer.report.baseline import evaluate_baseline

from .conftest import write_config


@pytest.mark.slow
def test_segformer_beats_colour_baselines(tmp_path, registered):
    root = tmp_path / "data"
    write_dataset(str(root), n_train=96, n_test=0, size=128, seed=11)
    split_dataset((0.75, 0.25, 0.0), str(root / "img_train"), str(root / "lab_train"), seed=0)
    cfg = write_config(tmp_path / "demo.yml", root, {
        "train_dataset": {"transforms": [{"type": "RandomHorizontalFlip"}, {"type": "RandomVerticalFlip"},
                                         {"type": "Normalize"}]},
        "lr_scheduler": {"learning_rate": 0.002, "warmup_iters": 10}})
    train(str(cfg), save_dir=str(tmp_path / "out"), iters=160, batch_size=8, save_interval=160, log_iters=40,
          seed=0)
    ours = evaluate(str(cfg), str(tmp_path / "out" / "iter_160"))
    train_pairs, val_pairs = read_list_file("train.txt", str(root)), read_list_file("val.txt", str(root))
    colour = max(evaluate_baseline(train_pairs, val_pairs, 4, method=m)["miou"]
                 for m in ("nearest_mean", "histogram"))
    assert ours["miou"] > colour + 0.1, (ours["miou"], colour)
