"""model_summary: the parameter table (the README's numbers) and per-stage shapes / key-value lengths."""
import pytest

from paddle_segformer.models.summary import parameter_table, stage_table

README_M = {"MiT-B0": (3.319, 0.433), "MiT-B1": (13.151, 0.564), "MiT-B2": (24.196, 3.266),
            "MiT-B3": (44.072, 3.266), "MiT-B4": (60.843, 3.266), "MiT-B5": (81.443, 3.266)}


def test_parameter_table_matches_the_measured_counts():
    rows = parameter_table(150)
    assert {r["variant"]: (r["encoder (M)"], r["decoder (M)"]) for r in rows} == README_M
    assert rows[3]["paper (M)"] == "44.0 / 3.3"


@pytest.mark.parametrize("size", [(256, 256), (67, 93)])
def test_stage_table_reads_the_forward_pass(size):
    import paddle

    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(0)
    model = SegFormer(4, mit("b0"))
    h, w = size
    rows = stage_table(model, h, w)
    assert model.training  # left as it was
    for row, stride, channels, sr in zip(rows, (4, 8, 16, 32), (32, 64, 160, 256), (8, 4, 2, 1)):
        fh, fw = -(-h // stride), -(-w // stride)  # ceil: padded strided convolutions
        assert row["feature map"] == (1, channels, fh, fw)
        assert row["query length"] == fh * fw and row["sr ratio"] == sr
        assert row["key/value length"] == (fh // sr) * (fw // sr)
    if size == (256, 256):
        assert [r["reduction"] for r in rows] == ["64x", "16x", "4x", "1x"]
