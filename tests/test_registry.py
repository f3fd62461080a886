"""register(): explicit, idempotent, never clobbers a foreign name, and PaddleSeg builds our model."""
import logging

import pytest
import yaml
from paddleseg.cvlibs import Config, SegBuilder, manager

import paddle_segformer
from paddle_segformer.integration import registry
from paddle_segformer.models.backbone import MixVisionTransformer
from paddle_segformer.models.segformer import SegFormer

ARTICLE_MODEL = {"type": "SegFormer", "embedding_dim": 768, "backbone": {"type": "MixVisionTransformer_B3"}}


def test_register_is_idempotent_and_logged_once(caplog):
    paddle_segformer.unregister()
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        first = paddle_segformer.register()
        second = paddle_segformer.register()
    assert "models.SegFormer" in first["replaced"]
    assert "backbones.MixVisionTransformer_B3" in first["replaced"]
    assert "datasets.RSParcelDataset" in first["added"]
    assert {f"models.SegFormer_B{i}" for i in range(6)} <= set(first["added"])  # PaddleSeg 2.8 has none
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


def _model_level_yaml(tmp_path, tiny_data, model: dict):
    cfg = {"batch_size": 2, "iters": 1, "model": model,
           "train_dataset": {"type": "Dataset", "dataset_root": str(tiny_data), "num_classes": 4,
                             "train_path": str(tiny_data / "train.txt"), "mode": "train",
                             "transforms": [{"type": "Normalize"}]},
           "optimizer": {"type": "AdamW"}, "lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5},
           "loss": {"types": [{"type": "CrossEntropyLoss"}], "coef": [1]}}
    path = tmp_path / "model_level.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("variant, width", [("B0", 256), ("B1", 256), ("B2", 768)])
def test_model_level_types_of_paddleseg_2_4(variant, width, tmp_path, tiny_data):
    path = _model_level_yaml(tmp_path, tiny_data, {"type": f"SegFormer_{variant}", "num_classes": 4})
    paddle_segformer.unregister()
    try:
        with pytest.raises(RuntimeError, match=rf"component \(SegFormer_{variant}\) was not found"):
            SegBuilder(Config(path)).model  # plain PaddleSeg 2.8
    finally:
        paddle_segformer.register()
    model = SegBuilder(Config(path)).model
    assert type(model) is SegFormer and model.linear_pred.weight.shape[1] == width  # from the variant table
    assert model.backbone.depths == list(paddle_segformer.get_variant(variant).depths)


def test_model_level_pretrained_whole_model_or_backbone(tmp_path, registered):
    import numpy as np
    import paddle

    from paddle_segformer.models.factories import MODEL_FACTORIES

    paddle.seed(1)
    source = MODEL_FACTORIES["SegFormer_B0"](num_classes=4)
    whole, backbone, prefixed = (str(tmp_path / n) for n in ("whole.pdparams", "mit.pdparams", "pre.pdparams"))
    paddle.save(source.state_dict(), whole)
    paddle.save(source.backbone.state_dict(), backbone)
    paddle.save({k: v for k, v in source.state_dict().items() if k.startswith("backbone.")}, prefixed)
    expected = source.backbone.norm4.weight.numpy()
    for path in (whole, backbone, prefixed):
        paddle.seed(2)
        model = MODEL_FACTORIES["SegFormer_B0"](num_classes=4, pretrained=path)
        np.testing.assert_array_equal(model.backbone.norm4.weight.numpy(), expected)
        same_head = np.array_equal(model.linear_pred.weight.numpy(), source.linear_pred.weight.numpy())
        assert same_head == (path == whole)  # only the whole-model checkpoint brings a decoder
