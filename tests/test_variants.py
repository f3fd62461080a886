import subprocess
import sys

import pytest

from paddle_segformer.variants import MIT_VARIANTS, PAPER_PARAMS_M, backbone_name, get_variant, variant_key


def test_table_matches_article_code():
    assert MIT_VARIANTS["b0"].embed_dims == (32, 64, 160, 256)
    assert {k: v.depths for k, v in MIT_VARIANTS.items()} == {
        "b0": (2, 2, 2, 2), "b1": (2, 2, 2, 2), "b2": (3, 4, 6, 3), "b3": (3, 4, 18, 3),
        "b4": (3, 8, 27, 3), "b5": (3, 6, 40, 3)}
    for key, spec in MIT_VARIANTS.items():
        assert spec.num_heads == (1, 2, 5, 8)
        assert spec.sr_ratios == (8, 4, 2, 1)
        assert spec.patch_sizes == (7, 3, 3, 3) and spec.strides == (4, 2, 2, 2)
        assert spec.decoder_dim == (256 if key in ("b0", "b1") else 768)


# Trainable parameters in millions (encoder, decoder; 150 classes), measured identical in PaddleSeg's
# built-in model and HF transformers (shared/FACTS.md); the paper's Table 1 rounds them (PAPER_PARAMS_M).
MEASURED_PARAMS_M = {"b0": (3.319, 0.433), "b1": (13.151, 0.564), "b2": (24.196, 3.266),
                     "b3": (44.072, 3.266), "b4": (60.843, 3.266), "b5": (81.443, 3.266)}


@pytest.mark.parametrize("key", list(MIT_VARIANTS))
def test_parameter_counts_match_the_reference_and_the_paper(key):
    from paddle_segformer.models.summary import parameter_counts

    enc, dec = parameter_counts(key, num_classes=150)
    assert (round(enc / 1e6, 3), round(dec / 1e6, 3)) == MEASURED_PARAMS_M[key]
    paper_enc, paper_dec = PAPER_PARAMS_M[key]
    assert abs(enc / 1e6 - paper_enc) <= 0.1 and abs(dec / 1e6 - paper_dec) <= 0.05  # the paper's rounding


@pytest.mark.parametrize("name,key", [("B3", "b3"), ("mit_b0", "b0"), ("MixVisionTransformer_B5", "b5"),
                                      ("segformer-b2", "b2"), (" b1 ", "b1")])
def test_variant_names(name, key):
    assert variant_key(name) == key
    assert get_variant(name) is MIT_VARIANTS[key]
    assert backbone_name(name) == f"MixVisionTransformer_{key.upper()}"


def test_unknown_variant():
    with pytest.raises(KeyError, match="unknown MiT variant 'b9'"):
        get_variant("b9")


def test_light_modules_import_without_paddle():
    code = ("import sys, paddle_segformer, paddle_segformer.variants, paddle_segformer.data.split, "
            "paddle_segformer.io.image, paddle_segformer.report.metrics, paddle_segformer.report.baseline, "
            "paddle_segformer.data.synthetic, paddle_segformer.cli.data_split, paddle_segformer.report.palettes, "
            "paddle_segformer.weights.bands, paddle_segformer.weights.rules, paddle_segformer.weights.formats, "
            "paddle_segformer.weights.checkpoint, paddle_segformer.weights.reader, "
            # what run_cli imports before it sets the threads: paddle must not be imported by then
            "paddle_segformer.machine, paddle_segformer.cli.runtime, paddle_segformer.cli.train, "
            "paddle_segformer.cli.val, paddle_segformer.cli.predict, paddle_segformer.cli.export, "
            "paddle_segformer.integration.config, paddle_segformer.integration.builder, "
            "paddle_segformer.inference.options, paddle_segformer.io.atomic, paddle_segformer.io.paths; "
            "bad = [m for m in ('paddle', 'paddleseg') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_readme_parameter_table_is_the_scripts_output():
    import runpy

    from .conftest import REPO

    table = runpy.run_path(str(REPO / "scripts" / "param_table.py"), run_name="param_table")["table"]()
    assert table.count("\n") == 1 + len(MIT_VARIANTS)
    assert table in (REPO / "README.md").read_text(encoding="utf-8")
