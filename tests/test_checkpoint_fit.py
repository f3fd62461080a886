"""A checkpoint that does not fit the config's model is refused everywhere it is read, naming what it holds
and the config that fits it (issue #20, item 1). Before: a B3 checkpoint given with a B2 config loaded with a
warning ("unexpected 240": stage 3's extra blocks) and predicted with a truncated network, exit 0."""
import numpy as np
import paddle
import pytest

from paddle_segformer.variants import MIT_VARIANTS
from paddle_segformer.weights.facts import WeightFacts, weight_facts
from paddle_segformer.weights.loading import load_state_dict_strict
from paddle_segformer.weights.rules import CheckpointError

from .conftest import write_config


def _fake_state(variant: str, bands: int = 3, classes=None) -> dict:
    """A state dict with a variant's patch embeddings and block keys (shapes only where they tell)."""
    spec = MIT_VARIANTS[variant]
    state, channels = {}, bands
    for stage, (width, depth) in enumerate(zip(spec.embed_dims, spec.depths), start=1):
        state[f"backbone.patch_embed{stage}.proj.weight"] = np.empty((width, channels, 1, 1), np.float32)
        for block in range(depth):
            state[f"backbone.block{stage}.{block}.norm1.weight"] = np.empty(width, np.float32)
        channels = width
    if classes is not None:
        state["linear_pred.weight"] = np.empty((classes, spec.decoder_dim, 1, 1), np.float32)
    return state


@pytest.mark.parametrize("variant", list(MIT_VARIANTS))
def test_weight_facts_name_every_variant(variant):
    spec = MIT_VARIANTS[variant]
    facts = weight_facts(_fake_state(variant, bands=4, classes=7))
    assert facts == WeightFacts(variant, spec.depths, spec.embed_dims, 4, 7)
    assert str(facts).startswith(f"MiT-{variant.upper()} (depths {'-'.join(map(str, spec.depths))}")
    backbone = weight_facts({k[len("backbone."):]: v for k, v in _fake_state(variant).items()})
    assert backbone.variant == variant and backbone.num_classes is None


@pytest.fixture(scope="module")
def b2_config(tiny_data, tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("b2") / "b2.yml", tiny_data, base="segformerb2.yml")


@pytest.fixture(scope="module")
def b3_checkpoint(b2_config, registered, tmp_path_factory):
    """A B3 checkpoint for the tiny task: a B2 model's weights with stage 3's twelve extra blocks."""
    from paddle_segformer.integration.config import load_config

    paddle.seed(0)
    state = load_config(str(b2_config))[1].model.state_dict()
    for block in range(6, 18):
        for key in [k for k in list(state) if k.startswith("backbone.block3.5.")]:
            state[key.replace("block3.5.", f"block3.{block}.")] = state[key]
    path = tmp_path_factory.mktemp("b3") / "model.pdparams"
    paddle.save(state, str(path))
    return path


def test_unexpected_keys_are_fatal_and_name_both_architectures(b2_config, b3_checkpoint, registered):
    from paddle_segformer.integration.config import load_config
    from paddle_segformer.weights.checkpoint import read_state_dict

    model = load_config(str(b2_config))[1].model
    with pytest.raises(CheckpointError) as err:
        load_state_dict_strict(model, read_state_dict(str(b3_checkpoint)), source=str(b3_checkpoint))
    message = str(err.value)
    assert "the checkpoint holds MiT-B3 (depths 3-4-18-3, widths 64-128-320-512), 3 bands, 4 classes" in message
    assert "the model is MiT-B2 (depths 3-4-6-3" in message and "unexpected 240" in message
    assert err.value.held.variant == "b3" and err.value.wanted.variant == "b2"
    report = load_state_dict_strict(model, read_state_dict(str(b3_checkpoint)), strict=False)
    assert report.skipped and len(report.unexpected) == 240  # the explicit way out still loads what fits


@pytest.mark.parametrize("tool", ["predict", "val", "export"])
def test_every_tool_refuses_the_checkpoint_and_names_the_config_that_fits(tool, b2_config, b3_checkpoint,
                                                                         tiny_data, tmp_path, capsys):
    from importlib import import_module

    from paddle_segformer.cli.runtime import run_cli

    args = {"predict": ["--image_path", str(tiny_data / "img_testA"), "--save_dir", str(tmp_path / "out"),
                        "--backend", "paddle"],
            "val": ["--backend", "paddle"], "export": ["--save_dir", str(tmp_path / "export")]}[tool]
    main = import_module(f"paddle_segformer.cli.{tool}").main
    assert run_cli(main, ["--config", str(b2_config), "--model_path", str(b3_checkpoint)] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: weights do not fit the model: the checkpoint holds MiT-B3")
    assert "configs that fit this checkpoint: configs/segformerb3.yml" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "export").exists()  # nothing was written


def test_resume_names_the_config_that_fits(b2_config, b3_checkpoint, registered, tmp_path):
    import shutil

    from paddle_segformer.cli.train import check_resume
    from paddle_segformer.integration.config import load_config

    folder = tmp_path / "iter_4"
    folder.mkdir()
    shutil.copy(b3_checkpoint, folder / "model.pdparams")
    (folder / "model.pdopt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"(?s)cannot resume: .*the checkpoint holds MiT-B3.*configs that "
                                              r"fit this checkpoint: configs/segformerb3\.yml"):
        check_resume(load_config(str(b2_config))[1].model, str(folder))


@pytest.mark.parametrize("variant, classes, bands, expected", [
    ("b3", 4, 3, ["configs/segformerb3.yml"]),
    ("b0", 4, 3, ["configs/demo.yml", "configs/segformerb0.yml"]),
    ("b3", 19, 3, ["configs/cityscapes/segformer_b3_cityscapes_1024x1024.yml"]),
    ("b0", None, 4, ["configs/geotiff/segformer_b0_rgbn.yml"]),  # a backbone: any class count
    ("b5", 7, 3, []),
])
def test_configs_fitting(variant, classes, bands, expected, registered):
    from paddle_segformer.integration.config_facts import configs_fitting

    spec = MIT_VARIANTS[variant]
    assert configs_fitting(WeightFacts(variant, spec.depths, spec.embed_dims, bands, classes)) == expected


def test_pretrained_weights_that_do_not_fit_name_the_config_that_fits(b2_config, b3_checkpoint, tmp_path, capsys):
    """Before: the mismatch surfaced as 'cannot build model: Tried to create ...' with no hint."""
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.train import main

    args = ["--config", str(b2_config), "--pretrained", str(b3_checkpoint), "--save_dir", str(tmp_path / "out"),
            "--iters", "1", "--batch_size", "2"]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: weights do not fit the model: the checkpoint holds MiT-B3")
    assert "configs that fit this checkpoint: configs/segformerb3.yml" in err
