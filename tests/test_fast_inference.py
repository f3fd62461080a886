"""The fast inference path gives the dynamic model's results: folded head, stride-4 label
upsampling, every runtime, the export cache, evaluation through a runtime."""
import logging

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddle_segformer.inference import artifacts, backends, choice
from paddle_segformer.inference.backends import create_backend
from paddle_segformer.inference.choice import cpu_has_bf16
from paddle_segformer.inference.graph import InferenceGraph
from paddle_segformer.inference.options import RuntimeOptions
from paddle_segformer.inference.shapes import ShapeSpecialised, symbolic_dims
from paddle_segformer.inference.upsample import upsample_labels, upsample_logits
from paddle_segformer.models.backbone import mit
from paddle_segformer.models.flops import segformer_macs
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.variants import MIT_VARIANTS

SLOW_VARIANTS = ("b4", "b5")


def _model(variant="b0", num_classes=7, seed=0, align_corners=False):
    """Random weights everywhere, BatchNorm statistics included (folding must use them)."""
    paddle.seed(seed)
    model = SegFormer(num_classes, mit(variant), align_corners=align_corners)
    bn = model.linear_fuse._batch_norm
    dim = bn.weight.shape[0]
    rng = np.random.default_rng(seed)
    for tensor, values in ((bn._mean, rng.normal(0, 0.2, dim)), (bn._variance, rng.uniform(0.5, 2, dim)),
                           (bn.weight, rng.uniform(0.5, 1.5, dim)), (bn.bias, rng.normal(0, 0.2, dim))):
        tensor.set_value(values.astype("float32"))
    model.eval()
    return model


def _reference(model, x):
    with paddle.no_grad():
        return model(paddle.to_tensor(x))[0].numpy()


def _agreement(a, b):
    return float((a == b).mean())


@pytest.mark.parametrize("variant", [pytest.param(v, marks=pytest.mark.slow) if v in SLOW_VARIANTS else v
                                     for v in MIT_VARIANTS])
def test_folded_graph_equals_model(variant):
    model = _model(variant)
    x = np.random.default_rng(1).standard_normal((2, 3, 67, 93)).astype("float32")
    ref = _reference(model, x)
    with paddle.no_grad():
        low = InferenceGraph(model)(paddle.to_tensor(x)).numpy()
    assert low.shape == (2, 7, 17, 24)  # ceil(67 / 4), ceil(93 / 4)
    full = upsample_logits(low, (67, 93))
    np.testing.assert_allclose(full, ref, atol=1e-4, rtol=0)
    assert _agreement(np.stack([upsample_labels(l, (67, 93)) for l in low]), ref.argmax(1)) >= 0.999


@pytest.mark.parametrize("variant, size, paper_gmac", [("b0", 512, 8.4), ("b1", 512, 15.9), ("b2", 512, 62.4),
                                                       ("b3", 512, 79.0), ("b4", 512, 95.7), ("b5", 640, 183.3)])
def test_mac_count_reproduces_the_paper(variant, size, paper_gmac):
    assert segformer_macs(variant, size, size).total / 1e9 == pytest.approx(paper_gmac, abs=0.2)


def test_mac_count_includes_attention_matmuls():
    count = segformer_macs("b0", 512, 512)
    assert count.attention_matmuls / 1e9 == pytest.approx(8.39 - 7.35, abs=0.05)  # what paddle.flops misses


@pytest.mark.parametrize("size", [(64, 64), (67, 93), (31, 130), (1, 5)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsampling_matches_paddle_interpolate(size, align_corners):
    rng = np.random.default_rng(sum(size))
    low = rng.standard_normal((1, 5, (size[0] + 3) // 4, (size[1] + 3) // 4)).astype("float32")
    low = np.repeat(np.repeat(low, 2, axis=2), 2, axis=3)[:, :, :(size[0] + 3) // 4, :(size[1] + 3) // 4]  # regions
    ref = F.interpolate(paddle.to_tensor(low), size=size, mode="bilinear", align_corners=align_corners).numpy()
    np.testing.assert_allclose(upsample_logits(low, size, align_corners), ref, atol=1e-5)
    labels = upsample_labels(low[0], size, align_corners)
    assert _agreement(labels, ref[0].argmax(0)) >= 0.999


def test_upsample_labels_on_regions_and_borders():
    low = np.zeros((3, 8, 8), np.float32)
    low[1] = 1.0  # class 1 everywhere: no pixel needs interpolating
    assert (upsample_labels(low, (32, 32)) == 1).all()
    low[2, 4:, :] = 2.0  # lower half class 2: only rows next to the border are mixed
    labels = upsample_labels(low, (32, 32))
    ref = F.interpolate(paddle.to_tensor(low[None]), size=(32, 32), mode="bilinear").numpy()[0].argmax(0)
    np.testing.assert_array_equal(labels, ref)


def _bilinear_argmax(low, size, align_corners):
    """Reference labels: every class interpolated at every pixel, in the kernel's float32 order, then argmax."""
    from paddle_segformer.ops.resize import taps

    y0, y1, fy = taps(low.shape[1], size[0], align_corners)
    x0, x1, fx = taps(low.shape[2], size[1], align_corners)
    fy, fx = fy[:, None], fx[None, :]
    gy, gx = np.float32(1) - fy, np.float32(1) - fx
    value = ((low[:, y0][:, :, x0] * gy + low[:, y1][:, :, x0] * fy) * gx
             + (low[:, y0][:, :, x1] * gy + low[:, y1][:, :, x1] * fy) * fx)
    return value.argmax(0)


@pytest.mark.parametrize("classes, low_size, size", [(150, (16, 16), (64, 64)), (19, (13, 21), (50, 83)),
                                                     (4, (9, 7), (9, 7)), (7, (1, 5), (3, 19)), (2, (12, 12), (5, 6))])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_labels_equal_every_class_interpolated(classes, low_size, size, align_corners):
    """Near-tied random logits (nearly every cell undecided): the cell-by-cell kernel gives exactly the labels
    of interpolating all classes everywhere, upscaling, at equal size and downscaling alike."""
    low = np.random.default_rng(classes).standard_normal((classes, *low_size)).astype(np.float32)
    np.testing.assert_array_equal(upsample_labels(low, size, align_corners), _bilinear_argmax(low, size, align_corners))


def _backend_names():
    names = ["paddle", "inference", "onnxruntime", "openvino"]
    return [n if choice.installed(n) else pytest.param(n, marks=pytest.mark.skip(reason=f"{n} not installed"))
            for n in names]


@pytest.fixture(scope="module")
def model_b0():
    return _model("b0", num_classes=5, seed=3)


@pytest.mark.parametrize("name", _backend_names())
def test_every_backend_gives_the_dynamic_models_results(name, model_b0, tmp_path):
    backend = create_backend(model_b0, RuntimeOptions(backend=name, cache_dir=str(tmp_path)))
    assert backend.name == name
    for shape in ((1, 3, 64, 64), (2, 3, 75, 130)):
        x = np.random.default_rng(shape[2]).standard_normal(shape).astype("float32")
        ref = _reference(model_b0, x)
        first = backend(x)
        np.testing.assert_allclose(upsample_logits(first, shape[2:]), ref, atol=1e-4, rtol=0)
        again = backend(x)  # a repeated shape: ONNX Runtime / OpenVINO specialise their session to it
        np.testing.assert_allclose(again, first, atol=1e-5, rtol=0)
        labels = np.stack([upsample_labels(low, shape[2:]) for low in again])
        assert _agreement(labels, ref.argmax(1)) >= 0.999
    if hasattr(backend, "sessions"):
        assert sorted(backend.sessions.runners) == [(1, 3, 64, 64), (2, 3, 75, 130)]
    if name == "openvino":  # handed over channel-last, as its last convolution computes them (no reorder)
        assert np.moveaxis(again, 1, -1).flags.c_contiguous


def test_sessions_are_specialised_to_shapes_that_repeat():
    built = []
    sessions = ShapeSpecialised("dynamic", lambda shape: built.append(shape) or f"static{shape}", after=2, keep=2)
    assert sessions.runner_for((1, 3, 8, 8)) == "dynamic"  # seen once: no session build
    assert sessions.runner_for((1, 3, 8, 8)) == "static(1, 3, 8, 8)"
    assert sessions.runner_for((1, 3, 8, 8)) == "static(1, 3, 8, 8)" and built == [(1, 3, 8, 8)]
    for shape in ((1, 3, 9, 9), (1, 3, 9, 9), (1, 3, 7, 7), (1, 3, 7, 7)):
        sessions.runner_for(shape)
    assert list(sessions.runners) == [(1, 3, 9, 9), (1, 3, 7, 7)]  # least recently used dropped
    assert symbolic_dims(["N", 3, "H", "W"], (2, 3, 64, 96)) == {"N": 2, "H": 64, "W": 96}
    with pytest.raises(ValueError, match="rank 3"):
        symbolic_dims(["N", 3, "H", "W"], (3, 64, 96))


@pytest.mark.skipif(not (cpu_has_bf16() and choice.installed("openvino")), reason="needs a bf16 CPU and OpenVINO")
def test_bf16_runs_and_mostly_agrees(model_b0, tmp_path):
    backend = create_backend(model_b0, RuntimeOptions(precision="bf16", cache_dir=str(tmp_path)))
    assert (backend.name, backend.precision) == ("openvino", "bf16")
    x = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype("float32")
    ref = _reference(model_b0, x)[0].argmax(0)
    assert _agreement(upsample_labels(backend(x)[0], (128, 128)), ref) >= 0.99  # measured 0.9958 (seeds 0-4: >= 0.994)


def test_bf16_without_cpu_support_is_refused_clearly(model_b0, monkeypatch):
    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="avx512_bf16"):
        create_backend(model_b0, RuntimeOptions(precision="bf16"))
    with pytest.raises(ValueError, match="OpenVINO"):
        create_backend(model_b0, RuntimeOptions(backend="onnxruntime", precision="bf16"))


@pytest.mark.skipif(not (choice.installed("onnxruntime") and choice.installed("openvino")),
                    reason="needs onnxruntime and openvino (requirements.txt)")
def test_auto_explains_its_choice_and_falls_back(model_b0, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="paddle_segformer.inference.backends")
    backend = create_backend(model_b0, RuntimeOptions(cache_dir=str(tmp_path)))
    assert backend.name == choice.AUTO_ORDER[0] == "openvino"
    assert "inference runtime: openvino" in caplog.text and "fastest" in caplog.text

    def broken(*args, **kwargs):
        raise RuntimeError("simulated start-up failure")

    monkeypatch.setitem(backends.CLASSES, "openvino", broken)
    assert create_backend(model_b0, RuntimeOptions(cache_dir=str(tmp_path))).name == "onnxruntime"
    with pytest.raises(RuntimeError, match="simulated"):
        create_backend(model_b0, RuntimeOptions(backend="openvino"))
    assert create_backend(model_b0, RuntimeOptions(), device="gpu:0").name == "paddle"


@pytest.mark.skipif(not choice.installed("onnxruntime"), reason="needs paddle2onnx (requirements.txt)")
def test_export_is_cached_by_content(model_b0, tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "best_model"
    ckpt_dir.mkdir()
    first = artifacts.artifact(InferenceGraph(model_b0), 3, "onnx", str(ckpt_dir / "model.pdparams"))
    assert first.parent.parent == ckpt_dir / ".inference" and (first / "model.onnx").is_file()
    assert not list(first.parent.glob(".*.part"))  # nothing half-written left

    def no_export(*args):
        raise AssertionError("exported again although the weights did not change")

    monkeypatch.setitem(artifacts.WRITERS, "onnx", no_export)
    assert artifacts.artifact(InferenceGraph(model_b0), 3, "onnx", str(ckpt_dir / "model.pdparams")) == first
    other = _model("b0", num_classes=5, seed=4)
    assert artifacts.fingerprint(InferenceGraph(other), 3) != artifacts.fingerprint(InferenceGraph(model_b0), 3)
    assert artifacts.fingerprint(InferenceGraph(model_b0), 4) != artifacts.fingerprint(InferenceGraph(model_b0), 3)
    model_b0.align_corners = True
    try:
        assert artifacts.fingerprint(InferenceGraph(model_b0), 3) != artifacts.fingerprint(InferenceGraph(other), 3)
        assert artifacts.fingerprint(InferenceGraph(model_b0), 3) != artifacts.fingerprint(
            InferenceGraph(_model("b0", num_classes=5, seed=3)), 3)
    finally:
        model_b0.align_corners = False


def test_a_concurrent_builder_that_finished_first_wins(model_b0, tmp_path, monkeypatch):
    graph = InferenceGraph(model_b0)
    key = artifacts.fingerprint(graph, 3)

    def racing_writer(graph, bands, folder):  # another process completes the same artifact meanwhile
        other = tmp_path / key / "paddle"
        other.mkdir(parents=True)
        (other / "model.json").write_text("{}")
        (other / "model.pdiparams").write_bytes(b"")
        (tmp_path / "mine.txt").write_text(folder)

    monkeypatch.setitem(artifacts.WRITERS, "paddle", racing_writer)
    assert artifacts.artifact(graph, 3, "paddle", cache_dir=str(tmp_path)) == tmp_path / key / "paddle"
    assert not list((tmp_path / key).glob(".*.part"))  # the loser's folder is removed


def test_align_corners_model_through_the_default_runtime(tmp_path):
    model = _model("b0", num_classes=5, seed=5, align_corners=True)
    backend = create_backend(model, RuntimeOptions(cache_dir=str(tmp_path)))
    x = np.random.default_rng(2).standard_normal((1, 3, 70, 50)).astype("float32")
    ref = _reference(model, x)
    np.testing.assert_allclose(upsample_logits(backend(x), (70, 50), True), ref, atol=1e-4, rtol=0)
    assert _agreement(upsample_labels(backend(x)[0], (70, 50), True), ref[0].argmax(0)) >= 0.999


def test_resizing_eval_transforms_are_undone_as_paddleseg_does(model_b0, tmp_path):
    from paddleseg.transforms import Normalize, Resize

    from paddle_segformer.inference.predictor import Predictor

    ops = [Resize(target_size=[64, 48]), Normalize()]
    fast = Predictor(model_b0, ops, backend=create_backend(model_b0, RuntimeOptions(cache_dir=str(tmp_path))))
    slow = Predictor(model_b0, ops)  # paddleseg.core.infer on the dynamic graph
    img = (np.random.default_rng(4).random((81, 57, 3)) * 255).astype("uint8")
    labels = fast.predict(img)
    assert labels.shape == (81, 57)
    assert _agreement(labels, slow.predict(img)) >= 0.999


def test_unwritable_checkpoint_folder_falls_back_to_user_cache(model_b0, tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "readonly"
    ckpt_dir.mkdir()
    (ckpt_dir / ".inference").write_text("a file where the cache folder would go")  # mkdir fails, even as root
    monkeypatch.setenv("PADDLE_SEGFORMER_CACHE", str(tmp_path / "user_cache"))
    path = artifacts.artifact(InferenceGraph(model_b0), 3, "paddle", str(ckpt_dir / "model.pdparams"))
    assert path.parent.parent == tmp_path / "user_cache" and (path / "model.json").is_file()


def test_evaluation_through_a_runtime_equals_paddleseg(tiny_config, random_checkpoint, registered):
    from paddleseg import core

    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.inference.evaluate import evaluate_dataset
    from paddle_segformer.inference.options import InferenceOptions
    from paddle_segformer.integration.config import load_config

    _, builder = load_config(str(tiny_config))
    model, predictor = build_predictor(builder, str(tiny_config), str(random_checkpoint), InferenceOptions(), "cpu")
    assert predictor.backend is not None and predictor.backend.name == choice.AUTO_ORDER[0]
    dataset = builder.val_dataset
    ours = evaluate_dataset(predictor, dataset, dataset.num_classes, dataset.ignore_index, progress=False)
    miou, acc, class_iou, class_precision, kappa = core.evaluate(model, dataset, print_detail=False)
    labels = np.stack([dataset[i]["label"] for i in range(len(dataset))])
    assert ours["confusion"].sum() == (labels != 255).sum()
    np.testing.assert_allclose(ours["class_iou"], class_iou, atol=1e-4)
    np.testing.assert_allclose(ours["class_precision"], class_precision, atol=1e-4)
    assert (ours["miou"], ours["acc"], ours["kappa"]) == pytest.approx((miou, acc, kappa), abs=1e-4)
