"""Every shipped config, and every config of the PaddleSeg 2.4-2.7 corpus, loads and builds its model; the
shipped ones name the ImageNet weights of their own variant (built here without reading them: offline)."""
from pathlib import Path

import pytest

from paddle_segformer.integration.config import ConfigError, load_config
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.variants import MIT_VARIANTS, get_variant, variant_key

from .conftest import CONFIGS, LEGACY_CONFIGS

LEAVES = sorted(p for p in CONFIGS.rglob("*.yml") if "_base_" not in p.parts)
LEGACY = sorted(p for p in LEGACY_CONFIGS.rglob("*.yml") if "_base_" not in p.parts)
MIT_URL = "https://bj.bcebos.com/paddleseg/dygraph/backbone/mix_vision_transformer_{}.tar.gz"  # PaddleSeg's


def test_there_are_configs_for_every_variant():
    names = {p.name for p in LEAVES}
    assert {f"segformer{k}.yml" for k in MIT_VARIANTS} <= names and "demo.yml" in names


@pytest.mark.parametrize("path", LEAVES + LEGACY, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_builds_model(path: Path, registered):
    cfg, builder = load_config(str(path), pretrained=False)
    model = builder.model
    assert isinstance(model, SegFormer) and model.backbone.pretrained_report is None
    model_cfg = cfg.model_cfg  # backbone-level types, or 2.4-2.7's model-level SegFormer_B*
    spec = get_variant(model_cfg["backbone"]["type"] if "backbone" in model_cfg else model_cfg["type"])
    assert [len(getattr(model.backbone, f"block{i}")) for i in range(1, 5)] == list(spec.depths)
    assert model.linear_pred.weight.shape[1] == spec.decoder_dim  # width from the variant table
    assert model.num_classes == (19 if path.parent.name == "cityscapes" else 4)  # from the dataset, written once
    loss = builder.loss["types"][0]
    assert all(part.ignore_index == 255 for part in getattr(loss, "losses", [loss]))  # MixedLoss: each part
    assert cfg.lr_scheduler_cfg and cfg.optimizer_cfg["type"] in ("AdamW", "SegFormerAdamW", "sgd")


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_names_the_imagenet_weights_of_its_own_variant(path: Path, registered):
    """Parcel, Cityscapes and GeoTIFF configs fine-tune from their variant's ImageNet MiT weights (b3 config ->
    b3 URL, written once per variant in _base_/mit_bN.yml); the demo trains from scratch, offline."""
    cfg, _ = load_config(str(path))
    backbone = cfg.model_cfg["backbone"]
    if path.name == "demo.yml":
        assert backbone.get("pretrained") is None and "pretrained" not in cfg.model_cfg
        return
    assert backbone["pretrained"] == MIT_URL.format(variant_key(backbone["type"]))
    texts = [p.read_text(encoding="utf-8") for p in CONFIGS.rglob("*.yml")]
    assert sum(backbone["pretrained"] in t for t in texts) == 1  # one fact, one file
    _, offline = load_config(str(path), pretrained=False)
    assert offline.config.model_cfg["backbone"]["pretrained"] is None


def test_legacy_corpus_covers_the_forms():
    texts = {p.name: p.read_text(encoding="utf-8") for p in LEGACY_CONFIGS.rglob("*.yml")}
    joined = "\n".join(texts.values())
    assert len(LEGACY) >= 5
    for form in ("type: SegFormer_B0", "type: SegFormer_B1", "type: MixVisionTransformer_B2",
                 "type: MixVisionTransformer_B3", "_base_:", "_inherited_: False", "type: Dataset",
                 "num_classes: 4", "learning_rate:\n  value:", "type: sgd"):
        assert form in joined, form


def test_each_fact_written_once():
    texts = {p: p.read_text(encoding="utf-8") for p in CONFIGS.rglob("*.yml")}
    for fact in ("embedding_dim", "in_channels"):  # from the variant table / the dataset
        assert not [p for p, t in texts.items() if f"{fact}:" in t], f"{fact} is written in a config"
    for fact in ("num_classes:", "ignore_index:", "img_channels:", "mean:"):  # at most once per file
        assert all(t.count(fact) <= 1 for t in texts.values()), fact
    parcel = [p for p, t in texts.items() if "RSParcelDataset" in t]  # facts of the class, not of YAML
    assert parcel and not [p for p in parcel if "num_classes:" in texts[p]]
    for recipe in (False, True):  # the parcel schedule and the Cityscapes recipe: the rate in one file each
        files = [t for p, t in texts.items() if ("cityscapes" in p.name) == recipe]
        assert sum("learning_rate: 0.00006" in t for t in files) == 1


def test_unknown_type_names_the_config(tmp_path, registered):
    bad = tmp_path / "bad.yml"
    bad.write_text(f"_base_: {CONFIGS / 'segformerb0.yml'}\nmodel:\n  backbone:\n    type: NoSuchBackbone\n",
                   encoding="utf-8")
    _, builder = load_config(str(bad))
    from paddle_segformer.integration.config import build

    with pytest.raises(ConfigError, match=r"bad\.yml.*NoSuchBackbone"):
        build(builder, "model", str(bad))


def test_missing_config_is_clear():
    with pytest.raises(ConfigError, match="config file not found: nope.yml"):
        load_config("nope.yml")
