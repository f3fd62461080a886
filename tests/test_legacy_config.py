"""PaddleSeg 2.4-2.7 config forms read as they were read there (pure dict rules, then through Config)."""
import pytest

from paddle_segformer.integration.legacy_config import fill_poly_defaults, legacy_scheduler, upgrade


@pytest.mark.parametrize("block, expected", [
    ({"value": 0.01}, {"type": "PolynomialDecay", "learning_rate": 0.01, "power": 0.9, "end_lr": 0.0}),
    ({"value": 0.01, "decay": {"type": "poly", "power": 0.9, "end_lr": 0.001}},
     {"type": "PolynomialDecay", "learning_rate": 0.01, "power": 0.9, "end_lr": 0.001}),
    ({"value": 0.01, "decay": {"type": "poly"}},  # Paddle's power default, 2.4's end_lr default
     {"type": "PolynomialDecay", "learning_rate": 0.01, "power": 1.0, "end_lr": 0.0}),
    ({"value": [0.01, 0.001], "decay": {"type": "piecewise", "boundaries": [100]}},
     {"type": "PiecewiseDecay", "values": [0.01, 0.001], "boundaries": [100]}),
    ({"value": 0.01, "decay": {"type": "stepdecay", "step_size": 10, "gamma": 0.5}},
     {"type": "StepDecay", "learning_rate": 0.01, "step_size": 10, "gamma": 0.5}),
    (0.02, {"type": "InverseTimeDecay", "learning_rate": 0.02, "gamma": 0.0}),
])
def test_learning_rate_block_becomes_the_scheduler_2_4_built(block, expected):
    assert legacy_scheduler(block) == expected


def test_unreadable_learning_rate_blocks_are_refused():
    with pytest.raises(ValueError, match="cosine"):
        legacy_scheduler({"value": 0.01, "decay": {"type": "cosine"}})
    with pytest.raises(ValueError, match="value"):
        legacy_scheduler({"decay": {"type": "poly"}})


def test_constant_rate_stays_constant():
    import paddle

    scheduler = paddle.optimizer.lr.InverseTimeDecay(**{k: v for k, v in legacy_scheduler(0.02).items()
                                                        if k != "type"})
    rates = []
    for _ in range(5):
        rates.append(scheduler.last_lr)
        scheduler.step()
    assert rates == [0.02] * 5


def test_lr_scheduler_wins_over_the_block_as_in_2_4():
    dic = {"learning_rate": {"value": 0.01}, "lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5}}
    notes = upgrade(dic)
    assert dic == {"lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5}}
    assert "ignored" in notes[0]


def test_optimizer_forms():
    dic = {"optimizer": {"type": "sgd", "weight_decay": 0, "backbone_lr_mult": 0.1}}
    assert len(upgrade(dic)) == 3
    assert dic["optimizer"] == {"type": "sgd", "momentum": 0.9, "weight_decay": 0.0,
                                "custom_cfg": [{"name": "backbone", "lr_mult": 0.1}]}
    explicit = {"optimizer": {"type": "SGD"}}  # 2.8's spelling means plain SGD: left alone
    assert upgrade(explicit) == [] and explicit == {"optimizer": {"type": "SGD"}}


def test_generic_dataset_num_classes_synced_as_in_2_7():
    dic = {"model": {"type": "SegFormer_B0", "num_classes": 4},
           "train_dataset": {"type": "Dataset"}, "val_dataset": {"type": "Dataset", "num_classes": 4}}
    upgrade(dic)
    assert dic["train_dataset"]["num_classes"] == 4
    conflict = {"model": {"num_classes": 4}, "train_dataset": {"type": "Dataset", "num_classes": 5},
                "val_dataset": {"type": "Dataset"}}
    assert upgrade(conflict) == [] and "num_classes" not in conflict["val_dataset"]  # PaddleSeg reports it


def test_poly_defaults_fill_only_what_is_missing():
    cfg = {"type": "PolynomialDecay", "learning_rate": 6e-5, "power": 1}
    assert fill_poly_defaults(cfg) == {"end_lr": 0.0}
    assert cfg["power"] == 1 and cfg["end_lr"] == 0.0
    assert fill_poly_defaults({"type": "CosineAnnealingDecay"}) == {}
