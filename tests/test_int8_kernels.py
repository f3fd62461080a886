"""What INT8 runs: the layout conversions of the graph and the layers NNCF quantises.

A 3-D token transpose is its own OpenVINO kernel, a 4-D one beside a conv folds into the conv's layout; a
depth-wise kernel left as Reshape(constant) is not quantised by NNCF. Both cost INT8 most of its speed-up.
"""
import numpy as np
import paddle
import pytest

from paddle_segformer.inference.options import RuntimeOptions
from paddle_segformer.models.backbone import mit
from paddle_segformer.models.layers import map_to_tokens, tokens_to_map
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.variants import MIT_VARIANTS

pytest.importorskip("nncf")
pytest.importorskip("openvino")

LAYOUT = ("Transpose", "Reshape")  # ops that only move values
DEQUANTISE = ("Multiply", "Subtract", "Convert")  # NNCF's int8 weight -> float


@pytest.mark.parametrize("h, w", [(1, 1), (3, 5), (8, 8)])
def test_token_map_conversions_move_values_as_before(h, w):
    """The 4-D forms give the values of the 3-D ones they replace: (B, N, C) <-> (B, C, H, W), row-major N."""
    tokens = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, h * w, 6)).astype(np.float32))
    as_map = tokens_to_map(tokens, h, w)
    expected = tokens.numpy().transpose(0, 2, 1).reshape(2, 6, h, w)
    np.testing.assert_array_equal(as_map.numpy(), expected)
    np.testing.assert_array_equal(map_to_tokens(as_map).numpy(), tokens.numpy())


@pytest.fixture(scope="module")
def onnx_b0(tmp_path_factory):
    """(openvino.Core, path of the folded graph's ONNX file) of a random-weight B0, 4 classes."""
    from paddle_segformer.inference.backends import create_backend

    paddle.seed(0)
    model = SegFormer(4, mit("b0"))
    model.eval()
    backend = create_backend(model, RuntimeOptions("openvino", "fp32", 1, str(tmp_path_factory.mktemp("ov"))))
    return backend.core, backend.path


def _ops(model, kind):
    return [node for node in model.get_ordered_ops() if node.get_type_name() == kind]


def _up(output, through):
    """The first node above ``output`` (an openvino Output) that is not one of the ``through`` kinds."""
    node = output.get_node()
    while node.get_type_name() in through:
        node = node.input_value(0).get_node()
    return node


def test_no_token_transposes_in_the_graph(onnx_b0):
    core, path = onnx_b0
    ranks = [len(node.get_input_partial_shape(0)) for node in _ops(core.read_model(path), "Transpose")]
    assert ranks and 3 not in ranks, f"transposes of rank {sorted(set(ranks))}"


def test_depthwise_convs_are_quantised(onnx_b0):
    """Every Mix-FFN depth-wise conv gets an int8 kernel (not a float FakeQuantize on a Reshape) and quantised
    input activations."""
    from paddle_segformer.inference.int8 import Calibration, QuantSettings, quantize

    core, path = onnx_b0

    def load(name):
        return np.random.default_rng(int(name)).standard_normal((3, 64, 64)).astype(np.float32)

    quantized, _ = quantize(core, path, Calibration(tuple(str(i) for i in range(4)), load), QuantSettings())
    convs = _ops(quantized, "GroupConvolution")
    assert len(convs) == sum(MIT_VARIANTS["b0"].depths)  # one per block
    for conv in convs:
        kernel = _up(conv.input_value(1), DEQUANTISE)
        assert kernel.get_type_name() == "Constant" and kernel.get_element_type().get_type_name() in ("i8", "u8"), \
            f"{conv.get_friendly_name()}: kernel from {kernel.get_type_name()}"
        assert _up(conv.input_value(0), LAYOUT).get_type_name() == "FakeQuantize", conv.get_friendly_name()
