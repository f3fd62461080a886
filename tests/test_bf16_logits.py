"""bf16 logits (paddle_segformer.ops.bf16): where OpenVINO's last layer computes in bf16 it hands the logits
over as they are (their bits), and the label kernel reads them: the labels are those of the float32 logits
OpenVINO would otherwise return, and every other reader widens them first."""
import numpy as np
import pytest

from paddle_segformer.inference import backends, choice
from paddle_segformer.inference.backends import create_backend
from paddle_segformer.inference.options import RuntimeOptions
from paddle_segformer.inference.upsample import upsample_labels, upsample_logits
from paddle_segformer.ops.bf16 import BF16_BITS, from_float32, is_bf16, to_float32
from paddle_segformer.ops.layout import channels_first, channels_last

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3.0e38, 1.0, -1.0], np.float32)


def _logits(shape, seed=0, step=None):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return x if step is None else (np.round(x / step) * step).astype(np.float32)  # coarse: many exact ties


def _widened(bits):
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _channel_last_view(x):
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, -3, -1)), -1, -3)


def test_widening_is_exact_and_keeps_the_memory_order():
    bits = from_float32(np.concatenate([SPECIAL, _logits(990)]).reshape(10, 10, 10))
    assert bits.dtype == BF16_BITS and is_bf16(bits) and not is_bf16(_widened(bits))
    np.testing.assert_array_equal(to_float32(bits), _widened(bits))
    view = _channel_last_view(bits)
    wide = to_float32(view)
    assert wide.dtype == np.float32 and np.moveaxis(wide, 0, -1).flags.c_contiguous  # still channel-last
    np.testing.assert_array_equal(wide, _widened(bits))


@pytest.mark.skipif(not choice.installed("openvino"), reason="OpenVINO not installed")
def test_rounding_to_bf16_is_openvinos():
    """from_float32 (the tests' bf16 maker) rounds as OpenVINO's own f32 -> bf16 conversion does."""
    import openvino as ov
    from openvino import opset13 as ops

    x = np.concatenate([SPECIAL, _logits(4000), (np.arange(1, 200) * 2.0 ** -8 + 1).astype(np.float32)])
    param = ops.parameter(list(x.shape), ov.Type.f32)
    convert = ov.Model([ops.convert(param, ov.Type.bf16)], [param])
    theirs = ov.Core().compile_model(convert, "CPU")([x])[0].view(np.uint16)
    np.testing.assert_array_equal(from_float32(x), theirs)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("step", [None, 0.25])
def test_label_kernel_reads_bf16_bits_as_their_float32_values(align_corners, step):
    bits = from_float32(_logits((19, 13, 21), seed=5, step=step))
    reference = upsample_labels(_widened(bits), (50, 83), align_corners)
    np.testing.assert_array_equal(upsample_labels(bits, (50, 83), align_corners), reference)
    np.testing.assert_array_equal(upsample_labels(_channel_last_view(bits), (50, 83), align_corners), reference)
    assert reference.dtype == np.int32


def test_other_readers_widen_bf16_bits_first():
    bits = from_float32(_logits((2, 6, 9, 7), seed=2))
    view = _channel_last_view(bits)
    assert channels_last(view).dtype == BF16_BITS and np.shares_memory(channels_last(view), view)
    np.testing.assert_array_equal(channels_first(view), _widened(bits))
    np.testing.assert_array_equal(upsample_logits(view, (20, 30)), upsample_logits(_widened(bits), (20, 30)))


@pytest.fixture(scope="module")
def model_b0():
    import paddle

    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(1)
    model = SegFormer(19, mit("b0"))
    model.eval()
    return model


@pytest.mark.skipif(not (choice.cpu_has_bf16() and choice.installed("openvino")),
                    reason="needs a bf16 CPU and OpenVINO")
def test_openvino_hands_over_the_bf16_logits_its_last_layer_computes(model_b0, tmp_path):
    backend = create_backend(model_b0, RuntimeOptions(precision="bf16", cache_dir=str(tmp_path)))
    assert backend.bf16_out
    x = np.random.default_rng(0).standard_normal((1, 3, 96, 128)).astype(np.float32)
    raw = backend.label_logits(x)
    assert is_bf16(raw) and raw.shape == (1, 19, 24, 32) and np.moveaxis(raw, 1, -1).flags.c_contiguous
    # the same model asked for float32 logits: OpenVINO converts its bf16 layer's output at the end
    model = backend.core.read_model(backend.path)
    float_out = backend.core.compile_model(backends._channels_last_output(model, False), "CPU", backend.config)
    reference = backends._logits_view(float_out([x])[0], False)
    assert reference.dtype == np.float32
    np.testing.assert_array_equal(to_float32(raw), reference)
    np.testing.assert_array_equal(backend(x), reference)  # every other caller gets float32
    np.testing.assert_array_equal(upsample_labels(raw[0], (96, 128)), upsample_labels(reference[0], (96, 128)))
    lanes = backend.streams(2)
    assert lanes.bf16_out and is_bf16(lanes.label_logits(x))


@pytest.mark.skipif(not choice.installed("openvino"), reason="OpenVINO not installed")
def test_float32_runs_hand_over_float32(model_b0, tmp_path):
    backend = create_backend(model_b0, RuntimeOptions(backend="openvino", cache_dir=str(tmp_path)))
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    assert not backend.bf16_out and backend.label_logits(x).dtype == np.float32
