"""PaddleSeg's SegBuilder, patched in one place (paddle_segformer.integration.builder): the package's tools and a
PaddleSeg user calling ``SegBuilder(Config(path))`` get the same builder; each patch's original fails here."""
import numpy as np
import pytest

from paddle_segformer.integration import builder as seg_builder

from .conftest import CONFIGS

GEOTIFF = str(CONFIGS / "geotiff" / "segformer_b0_rgbn.yml")
OFFLINE = ["model.backbone.pretrained=None"]  # the example's ImageNet URL is not read here


def _schedule_config(tmp_path, schedule: dict, iters: int = 3):
    import yaml

    dic = {"batch_size": 2, "iters": iters, "model": {"type": "SegFormer_B0", "num_classes": 4},
           "train_dataset": {"type": "Dataset", "dataset_root": str(tmp_path), "train_path": "x.txt",
                             "num_classes": 4, "mode": "train", "transforms": [{"type": "Normalize"}]},
           "optimizer": {"type": "AdamW"}, "loss": {"types": [{"type": "CrossEntropyLoss"}], "coef": [1]}}
    dic.update(schedule)
    path = tmp_path / "schedule.yml"
    path.write_text(yaml.safe_dump(dic), encoding="utf-8")
    return str(path)


def _rates(scheduler, n):
    rates = []
    for _ in range(n):
        rates.append(scheduler.last_lr)
        scheduler.step()
    return rates


def test_polynomial_decay_defaults_original_rises_fixed_decays_to_zero(tmp_path, registered):
    from paddleseg.cvlibs import Config, SegBuilder

    path = _schedule_config(tmp_path, {"lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5,
                                                        "power": 1}})
    unpatched = _rates(seg_builder.ORIGINALS["lr_scheduler"].func(SegBuilder(Config(path))), 3)
    assert unpatched[2] > unpatched[1] > unpatched[0]  # 2.8 on its own: 6e-5 climbs towards 1e-4
    np.testing.assert_allclose(unpatched, [6e-5, 7.3333e-5, 8.6667e-5], rtol=1e-4)
    fixed = _rates(SegBuilder(Config(path)).lr_scheduler, 4)
    np.testing.assert_allclose(fixed, [6e-5, 4e-5, 2e-5, 0.0], atol=1e-12)  # 2.4-2.7: decays to 0
    unset = _schedule_config(tmp_path, {"lr_scheduler": {"type": "PolynomialDecay", "learning_rate": 6e-5}})
    np.testing.assert_allclose(_rates(SegBuilder(Config(unset)).lr_scheduler, 2), [6e-5, 6e-5 * (2 / 3) ** 0.9])




def test_paddleseg_builder_sizes_a_geotiff_model_original_fails(tmp_path, monkeypatch, registered):
    """README: ``SegBuilder(Config(path)).model`` with PaddleSeg's own builder, for the GeoTIFF example config."""
    from paddleseg.cvlibs import Config, SegBuilder

    from paddle_segformer.models.segformer import SegFormer


    path = str(CONFIGS / "geotiff" / "segformer_b0_rgbn.yml")
    builder = SegBuilder(Config(path, opts=OFFLINE))
    model = builder.model
    assert isinstance(model, SegFormer) and model.num_classes == 4 and model.backbone.in_channels == 4
    assert builder.loss["types"][0].ignore_index == 255
    monkeypatch.setattr(SegBuilder, "train_dataset_class", seg_builder.ORIGINALS["train_dataset_class"])
    # PaddleSeg 2.8 on its own: the class's facts are None, the encoder is built with in_channels None
    with pytest.raises(RuntimeError, match=r"(?s)MixVisionTransformer_B0 object.*NoneType"):
        SegBuilder(Config(path, opts=OFFLINE)).model


def test_the_tools_use_paddleseg_s_own_builder(registered):
    from paddleseg.cvlibs import SegBuilder

    from paddle_segformer.integration.config import load_config

    assert type(load_config(GEOTIFF)[1]) is SegBuilder  # no subclass: one builder, patched once
    assert seg_builder.patch() is False  # register() patched it already
    for name in seg_builder.PATCHES:
        assert vars(SegBuilder)[name] is not seg_builder.ORIGINALS[name]


def test_paddleseg_builder_gives_val_the_train_facts_original_does_not(monkeypatch, registered, capsys):
    from paddleseg.cvlibs import Config, SegBuilder

    builder = SegBuilder(Config(GEOTIFF, opts=OFFLINE))
    assert {k: builder.config.val_dataset_cfg[k] for k in ("num_classes", "img_channels")} == \
        {"num_classes": 4, "img_channels": 4}  # written once, in train_dataset
    assert (builder.val_dataset_class.NUM_CLASSES, builder.val_dataset_class.IMG_CHANNELS) == (4, 4)
    builder.model
    assert "Add the `" not in capsys.readouterr().out  # no advice to write the facts twice
    monkeypatch.setattr(SegBuilder, "__init__", seg_builder.ORIGINALS["__init__"])
    monkeypatch.setattr(SegBuilder, "val_dataset_class", seg_builder.ORIGINALS["val_dataset_class"])
    unpatched = SegBuilder(Config(GEOTIFF))
    assert "num_classes" not in unpatched.config.val_dataset_cfg
    assert unpatched.val_dataset_class.NUM_CLASSES is None  # PaddleSeg 2.8 on its own


def test_cosine_without_period_runs_over_the_iterations_original_refused(tmp_path, monkeypatch, registered):
    from paddleseg.cvlibs import Config, SegBuilder

    path = _schedule_config(tmp_path, {"lr_scheduler": {"type": "CosineAnnealingDecay", "learning_rate": 1e-3}},
                            iters=4)
    rates = _rates(SegBuilder(Config(path)).lr_scheduler, 5)
    np.testing.assert_allclose(rates, [1e-3 * (1 + np.cos(np.pi * t / 4)) / 2 for t in range(5)], atol=1e-12)
    monkeypatch.setattr(SegBuilder, "lr_scheduler", seg_builder.ORIGINALS["lr_scheduler"])
    with pytest.raises(RuntimeError, match="T_max"):
        SegBuilder(Config(path)).lr_scheduler
