"""Every shipped config loads through PaddleSeg's Config and builds its model."""
from pathlib import Path

import pytest

from paddle_segformer.cli.runtime import ConfigError, load_config
from paddle_segformer.model import SegFormer
from paddle_segformer.variants import MIT_VARIANTS, get_variant

from .conftest import CONFIGS

LEAVES = sorted(p for p in CONFIGS.rglob("*.yml") if "_base_" not in p.parts)


def test_there_are_configs_for_every_variant():
    names = {p.name for p in LEAVES}
    assert {f"segformer{k}.yml" for k in MIT_VARIANTS} <= names and "demo.yml" in names


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: p.name)
def test_config_builds_model(path: Path, registered):
    cfg, builder = load_config(str(path))
    model = builder.model
    assert isinstance(model, SegFormer)
    variant = cfg.model_cfg["backbone"]["type"]
    spec = get_variant(variant)
    assert [len(getattr(model.backbone, f"block{i}")) for i in range(1, 5)] == list(spec.depths)
    assert model.linear_pred.weight.shape[1] == spec.decoder_dim  # width from the variant table
    assert model.num_classes == 4  # from RSParcelDataset, written once
    assert builder.loss["types"][0].ignore_index == 255
    assert cfg.lr_scheduler_cfg and cfg.optimizer_cfg["type"] == "AdamW"


def test_each_fact_written_once():
    texts = {p: p.read_text(encoding="utf-8") for p in CONFIGS.rglob("*.yml")}
    for fact in ("embedding_dim", "in_channels"):  # from the variant table / the dataset
        assert not [p for p, t in texts.items() if f"{fact}:" in t], f"{fact} is written in a config"
    for fact in ("num_classes:", "ignore_index:", "img_channels:", "mean:"):  # at most once per file
        assert all(t.count(fact) <= 1 for t in texts.values()), fact
    parcel = [p for p, t in texts.items() if "RSParcelDataset" in t]  # facts of the class, not of YAML
    assert parcel and not [p for p in parcel if "num_classes:" in texts[p]]
    assert sum("learning_rate: 0.00006" in t for t in texts.values()) == 1


def test_unknown_type_names_the_config(tmp_path, registered):
    bad = tmp_path / "bad.yml"
    bad.write_text(f"_base_: {CONFIGS / 'segformerb0.yml'}\nmodel:\n  backbone:\n    type: NoSuchBackbone\n",
                   encoding="utf-8")
    _, builder = load_config(str(bad))
    from paddle_segformer.cli.runtime import build

    with pytest.raises(ConfigError, match=r"bad\.yml.*NoSuchBackbone"):
        build(builder, "model", str(bad))


def test_missing_config_is_clear():
    with pytest.raises(ConfigError, match="config file not found: nope.yml"):
        load_config("nope.yml")
