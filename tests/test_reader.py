"""The one checkpoint reader (weights/reader.py): one rule for a folder, one error type naming the file."""
import logging
import subprocess
import sys

import numpy as np
import paddle
import pytest

from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.weights.checkpoint import load_any, read_state_dict
from paddle_segformer.weights.convert import convert_file, to_hf
from paddle_segformer.weights.loading import load_pretrained, pretrained_target
from paddle_segformer.weights.reader import CheckpointError, checkpoint_file, read_checkpoint


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """A training checkpoint folder (ours, 5 classes) with a Hugging Face export of another model (7 classes)."""
    folder = tmp_path_factory.mktemp("ckpt") / "iter_8"
    paddle.seed(0)
    to_hf(SegFormer(7, mit("b0")).state_dict(), str(folder))
    paddle.save(SegFormer(5, mit("b0")).state_dict(), str(folder / "model.pdparams"))
    return folder


def test_every_caller_reads_model_pdparams_from_a_mixed_folder(mixed_folder, tmp_path, caplog):
    """Before: read_state_dict (loading) took model.pdparams, read_tensors / load_any (conversion) took
    model.safetensors; now both, and the log names the file read and the file ignored."""
    with caplog.at_level(logging.WARNING, logger="paddle_segformer.weights.reader"):
        _, info = load_any(str(mixed_folder))
    assert (info.format, info.num_classes) == ("paddleseg", 5)
    assert info.source == str(mixed_folder / "model.pdparams")
    assert "reading model.pdparams, ignoring model.safetensors" in caplog.text
    assert read_state_dict(str(mixed_folder))["linear_pred.weight"].shape[0] == 5
    assert convert_file(str(mixed_folder), str(tmp_path / "out.pdparams")).num_classes == 5
    _, exported = to_hf(read_checkpoint(str(mixed_folder)), str(tmp_path / "hf"))  # convert_weights.py --to hf
    assert exported.num_classes == 5
    assert pretrained_target(str(mixed_folder)) == "model"
    report = load_pretrained(SegFormer(5, mit("b0")), str(mixed_folder))
    assert not report.reinitialised and not report.missing and report.source.endswith("model.pdparams")


def test_hf_folder_prefers_safetensors(tmp_path):
    torch = pytest.importorskip("torch")
    to_hf(SegFormer(3, mit("b0")).state_dict(), str(tmp_path))
    torch.save({"x": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    assert checkpoint_file(str(tmp_path)) == str(tmp_path / "model.safetensors")


def test_one_error_type_naming_the_file(mixed_folder, tmp_path):
    hf = str(mixed_folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: .*not those of b3"):
        load_any(hf, variant="b3")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: unknown format 'onnx'"):
        load_any(hf, fmt_name="onnx")
    with pytest.raises(CheckpointError, match=r"empty: folder holds none of model\.pdparams"):
        (tmp_path / "empty").mkdir()
        read_checkpoint(str(tmp_path / "empty"))
    (tmp_path / "m.onnx").write_bytes(b"\0")
    with pytest.raises(CheckpointError, match=r"m\.onnx: unknown checkpoint type"):
        read_checkpoint(str(tmp_path / "m.onnx"))
    with pytest.raises(CheckpointError, match=r"other\.pdparams: 1 key\(s\) match no paddleseg rule.*aux"):
        to_hf({**read_checkpoint(str(mixed_folder)), "aux.weight": np.zeros(2, "float32")}, str(tmp_path / "x"),
              source=str(tmp_path / "other.pdparams"))
    assert issubclass(CheckpointError, ValueError)  # run_cli prints one "error:" line and exits 2


def test_bfloat16_pdparams_are_read_as_numbers(tmp_path):
    weight = paddle.to_tensor(np.full((2, 3), 1.5, "float32")).astype("bfloat16")
    paddle.save({"w": weight}, str(tmp_path / "bf16.pdparams"))
    got = read_checkpoint(str(tmp_path / "bf16.pdparams"))["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.full((2, 3), 1.5, "float32"))


def test_reading_safetensors_imports_no_paddle(mixed_folder):
    code = ("import sys; from paddle_segformer.weights.checkpoint import load_any; "
            f"_, info = load_any({str(mixed_folder / 'model.safetensors')!r}); assert info.num_classes == 7; "
            "assert 'paddle' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
