"""One static export (inference/static.py export_static) for export.py's deploy folder and the runtimes'
cache; the deploy.yaml writer beside its reader."""
import ast
import json
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_segformer.inference import artifacts, static
from paddle_segformer.inference.graph import InferenceGraph
from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer

PACKAGE = Path(static.__file__).resolve().parents[1]


def _calls_to(dotted: str):
    """(module, function) of every call to ``dotted`` (e.g. paddle.jit.save) in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and ast.unparse(node.func) == dotted:
                    found.append((path.relative_to(PACKAGE).as_posix(), func.name))
    return found


def test_the_package_saves_static_graphs_in_one_place():
    assert _calls_to("paddle.jit.save") == [("inference/static.py", "export_static")]
    assert _calls_to("paddle.jit.to_static") == [("inference/static.py", "export_static")]


def _input_shape(folder: Path) -> list:
    """The shape of input ``x`` as saved in a PIR ``model.json`` (Paddle 3)."""
    def walk(node):
        if isinstance(node, dict):
            if node.get("#") == "1.data":
                attrs = {a["N"]: a["AT"]["D"] for a in node["A"]}
                if attrs.get("name") == "x":
                    return attrs["shape"]
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                found = walk(item)
                if found is not None:
                    return found
        return None

    return walk(json.loads((folder / "model.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def four_band_model():
    paddle.seed(0)
    model = SegFormer(3, mit("b0", in_channels=4))
    model.eval()
    return model


def test_cache_and_deploy_exports_share_one_input_contract(four_band_model, tmp_path):
    cached = artifacts.artifact(InferenceGraph(four_band_model), 4, "paddle", cache_dir=str(tmp_path / "cache"))
    assert _input_shape(cached) == [-1, 4, -1, -1]  # batch, height and width dynamic
    assert static.export_guard(str(cached)) is None and static.read_deploy(str(cached)) is None

    out = Path(static.export_deploy(four_band_model, str(tmp_path / "deploy"), "softmax", input_size=(64, 96)))
    assert _input_shape(out) == [-1, 4, 64, 96]  # --input_shape fixes H W, the batch stays dynamic
    deploy = static.read_deploy(str(out))
    assert {k: deploy[k] for k in ("model", "params", "output_op", "num_classes", "in_channels", "transforms")} == {
        "model": "model.json", "params": "model.pdiparams", "output_op": "softmax", "num_classes": 3,
        "in_channels": 4, "transforms": [{"type": "Normalize"}]}
    assert static.export_guard(str(out)) is not None  # the reader finds the shape the writer wrote
    probs = static.StaticPredictor(str(out), threads=1).run(np.zeros((2, 4, 64, 96), np.float32))
    assert probs.shape == (2, 3, 64, 96)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_an_unknown_output_op_is_refused_before_anything_is_written(four_band_model, tmp_path):
    with pytest.raises(ValueError, match="output_op must be argmax, softmax or none"):
        static.export_deploy(four_band_model, str(tmp_path / "out"), "logits")
    assert not (tmp_path / "out").exists()
