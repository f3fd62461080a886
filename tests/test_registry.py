"""register(): explicit, idempotent, never clobbers a foreign name, and PaddleSeg builds our model."""
import logging

import pytest
import yaml
from paddleseg.cvlibs import Config, SegBuilder, manager

import paddle_segformer
from paddle_segformer import registry
from paddle_segformer.backbone import MixVisionTransformer
from paddle_segformer.model import SegFormer

ARTICLE_MODEL = {"type": "SegFormer", "embedding_dim": 768, "backbone": {"type": "MixVisionTransformer_B3"}}


def test_register_is_idempotent_and_logged_once(caplog):
    paddle_segformer.unregister()
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        first = paddle_segformer.register()
        second = paddle_segformer.register()
    assert "models.SegFormer" in first["replaced"]
    assert "backbones.MixVisionTransformer_B3" in first["replaced"]
    assert "datasets.RSParcelDataset" in first["added"]
    assert second == {"added": [], "replaced": []}
    assert sum("registered with PaddleSeg" in r.getMessage() for r in caplog.records) == 1
    assert registry.is_registered()


def test_unregister_restores_paddleseg_builtins():
    paddle_segformer.register()
    paddle_segformer.unregister()
    from paddleseg.models.segformer import SegFormer as Builtin

    assert manager.MODELS["SegFormer"] is Builtin
    assert manager.BACKBONES["MixVisionTransformer_B0"].__module__.startswith("paddleseg.")
    assert "RSParcelDataset" not in manager.DATASETS.components_dict
    paddle_segformer.register()
    assert manager.MODELS["SegFormer"] is SegFormer


def test_foreign_name_is_not_clobbered():
    paddle_segformer.unregister()

    class RSParcelDataset:  # someone else's component with our name
        pass

    manager.DATASETS.components_dict["RSParcelDataset"] = RSParcelDataset
    try:
        with pytest.raises(registry.RegistryConflict, match="datasets.RSParcelDataset"):
            paddle_segformer.register()
        # nothing was half-registered
        assert manager.MODELS["SegFormer"].__module__.startswith("paddleseg.")
    finally:
        del manager.DATASETS.components_dict["RSParcelDataset"]
        paddle_segformer.register()


def test_paddleseg_builder_returns_our_model_for_the_article_yaml(tmp_path, registered, tiny_data):
    cfg = {"batch_size": 2, "iters": 1, "model": ARTICLE_MODEL,
           "train_dataset": {"type": "RSParcelDataset", "dataset_root": str(tiny_data), "train_path": "train.txt",
                             "mode": "train", "transforms": [{"type": "Normalize"}]},
           "optimizer": {"type": "AdamW"}, "lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5},
           "loss": {"types": [{"type": "CrossEntropyLoss"}], "coef": [1]}}
    path = tmp_path / "article.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    model = SegBuilder(Config(str(path))).model  # PaddleSeg's own machinery
    assert type(model) is SegFormer and isinstance(model.backbone, MixVisionTransformer)
    assert model.num_classes == 4 and model.linear_pred.weight.shape[1] == 768
    assert [len(getattr(model.backbone, f"block{i}")) for i in range(1, 5)] == [3, 4, 18, 3]


def test_paddleseg_classes_stay_importable(registered):
    from paddleseg.models import SegFormer as Builtin
    from paddleseg.models.backbones.mix_transformer import MixVisionTransformer_B0

    assert Builtin is not SegFormer
    assert MixVisionTransformer_B0().__class__.__module__.startswith("paddleseg.")
