"""The memory estimate of one forward pass against a measured peak; images over the budget are tiled,
or, where tiling is impossible, skipped before the pass while the rest of the folder is written."""
import json
import logging
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from paddle_segformer.inference.memory import (MemoryBudget, MemoryGuard, ModelShape, estimate_forward_bytes,
                                               format_size, parse_size)
from paddle_segformer.inference.options import InferenceOptions, RuntimeOptions, TilingOptions
from paddle_segformer.variants import get_variant

from .conftest import REPO, env_with_threads

B0_4 = ModelShape.of_variant(get_variant("b0"), 4)


def test_parse_size():
    assert parse_size("4G") == 4 * 2 ** 30 and parse_size("512M") == 512 * 2 ** 20
    assert parse_size("1.5gib") == int(1.5 * 2 ** 30) and parse_size("1000") == 1000
    for bad in ("4X", "", "-1G", "0"):
        with pytest.raises(ValueError, match="memory size"):
            parse_size(bad)
    assert MemoryBudget.create("3G").limit == 3 * 2 ** 30
    assert MemoryBudget.create().limit > 0


def test_estimate_follows_each_runtime():
    """Paddle's dynamic graph holds the stage-1 scores (H/4 W/4) x (H/32 W/32): past small sizes x16 per
    doubled side, and full attention (sr 1) 64x more scores; OpenVINO fuses attention: x4 per doubled side."""
    big, bigger = (estimate_forward_bytes(s, s, B0_4, "paddle") for s in (2048, 4096))
    assert 12 < bigger / big < 16.5
    big, bigger = (estimate_forward_bytes(s, s, B0_4, "openvino") for s in (2048, 4096))
    assert 3.9 < bigger / big < 4.1
    full = ModelShape(B0_4.embed_dims, B0_4.num_heads, (1, 1, 1, 1), B0_4.hidden_dims, 256, 4)
    assert estimate_forward_bytes(1024, 1024, full, "paddle") > 30 * estimate_forward_bytes(1024, 1024, B0_4, "paddle")
    limit = estimate_forward_bytes(1000, 1000, B0_4, "paddle")
    guard = MemoryGuard(B0_4, MemoryBudget(limit, "test"), "paddle")
    assert guard.plan(992, 992).fits and not guard.plan(1056, 1056).fits
    assert guard.largest_side() == 992 and guard.tile_size() == 992
    assert estimate_forward_bytes(1000, 1000, B0_4, "no such runtime") >= limit  # unknown: the dynamic model's


def test_model_shape_of_model_matches_the_variant_table():
    import paddle

    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(0)
    assert ModelShape.of_model(SegFormer(4, mit("b0"))) == B0_4
    assert ModelShape.from_dict(B0_4.to_dict()) == B0_4


@pytest.mark.slow
def test_estimate_within_20_percent_of_a_measured_peak():
    """One pass (default runtime, forward + labels) of B0 at 768^2 in a fresh process, peak isolated."""
    out = subprocess.run([sys.executable, "scripts/bench_memory.py", "--worker", "b0", "efficient", "768",
                          "--classes", "150"], cwd=REPO, capture_output=True, text=True, env=env_with_threads(2),
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.8 <= r["estimate_mib"] / r["peak_mib"] <= 1.2, r


@pytest.fixture(scope="module")
def mixed_folder(tiny_data, tmp_path_factory):
    """Two 64x64 tiles and one 96x128 image (any format: a PNG here)."""
    root = tmp_path_factory.mktemp("mixed")
    tiles = sorted((tiny_data / "img_testA").glob("*.jpg"))
    shutil.copy(tiles[0], root / "a.jpg")
    shutil.copy(tiles[1], root / "b.jpg")
    big = cv2.resize(cv2.imread(str(tiles[2])), (128, 96), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(root / "big.png"), big)
    return root


def _budget_between(runtime: str) -> str:
    """A budget that a 64x64 pass fits and a 96x128 pass does not, in bytes."""
    small, large = (estimate_forward_bytes(h, w, B0_4, runtime) for h, w in ((64, 64), (96, 128)))
    assert small < large
    return str((small + large) // 2)


def _labels(folder):
    from PIL import Image

    return {p.name: np.asarray(Image.open(p)) for p in sorted((folder / "label").glob("*.png"))}  # class ids


def test_image_over_budget_is_tiled_with_the_whole_image_labels_when_a_tile_covers_it(
        tiny_config, random_checkpoint, mixed_folder, tmp_path, caplog):
    from paddle_segformer.cli.predict import predict

    common = dict(config=str(tiny_config), model_path=str(random_checkpoint), image_path=str(mixed_folder))
    predict(save_dir=str(tmp_path / "whole"), runtime=RuntimeOptions(backend="openvino"), **common)
    with caplog.at_level(logging.INFO):
        summary = predict(save_dir=str(tmp_path / "tiled"),
                          tiling=TilingOptions(tile=128, overlap=0),
                          runtime=RuntimeOptions(backend="openvino", max_memory=_budget_between("openvino")), **common)
    assert not summary.failed and len(summary.written) == 3
    tiled_lines = [r.getMessage() for r in caplog.records if "predicted in tiles" in r.getMessage()]
    assert len(tiled_lines) == 1 and "big.png" in tiled_lines[0] and "over the memory budget" in tiled_lines[0]
    assert any("are themselves over the memory budget" in r.getMessage() for r in caplog.records)  # --tile 128
    whole, tiled = _labels(tmp_path / "whole"), _labels(tmp_path / "tiled")
    assert whole.keys() == tiled.keys() == {"a.png", "b.png", "big.png"}
    assert tiled["big.png"].shape == (96, 128)
    for name in whole:
        np.testing.assert_array_equal(whole[name], tiled[name])
    for sub in ("pseudo_color/big.png", "overlay/big.jpg"):
        assert (tmp_path / "tiled" / sub).is_file()


def test_image_over_budget_gets_automatic_tiles(tiny_config, random_checkpoint, mixed_folder, tmp_path, caplog):
    from paddle_segformer.cli.predict import predict

    with caplog.at_level(logging.INFO):
        summary = predict(str(tiny_config), str(random_checkpoint), str(mixed_folder), str(tmp_path / "out"),
                          runtime=RuntimeOptions(backend="openvino", max_memory=_budget_between("openvino")))
    assert not summary.failed
    line = next(r.getMessage() for r in caplog.records if "predicted in tiles" in r.getMessage())
    assert "big.png" in line and ("tiles of 64 px" in line or "tiles of 96 px" in line)
    assert _labels(tmp_path / "out")["big.png"].shape == (96, 128)


def test_untileable_image_over_budget_is_skipped_and_the_folder_goes_on(
        tiny_config, random_checkpoint, mixed_folder, tmp_path, monkeypatch):
    from paddle_segformer.cli import predict as cli
    from paddle_segformer.inference import predictor as predictor_module

    passes = []
    original = predictor_module.Predictor.predict_transformed
    monkeypatch.setattr(predictor_module.Predictor, "predict_transformed",
                        lambda self, chw, info: passes.append(chw.shape) or original(self, chw, info))
    argv = ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path",
            str(mixed_folder), "--save_dir", str(tmp_path / "out"), "--aug_pred", "--flip_horizontal",
            "--max_memory", _budget_between("dynamic")]
    assert cli.main(argv) == 3  # a folder with a failure
    assert set(_labels(tmp_path / "out")) == {"a.png", "b.png"}
    assert passes == [(3, 64, 64), (3, 64, 64)]  # the big image never reached the model
    summary = cli.run(argv + ["--save_dir", str(tmp_path / "again")])
    [(path, reason)] = summary.failed
    assert path.name == "big.png"
    assert "cannot be combined with tiling" in reason and "--max_memory" in reason
    assert "over the memory budget" in reason


def test_format_size():
    assert format_size(3 * 2 ** 30) == "3.0 GiB" and format_size(5 * 2 ** 20) == "5 MiB"


class _ValSet:
    """A val-mode dataset of one normalised 96x128 image with a label (PaddleSeg's item layout)."""

    def __init__(self, path):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        self.img = ((rgb.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)
        self.label = (np.arange(96 * 128).reshape(1, 96, 128) % 4).astype(np.int64)
        self.file_list = [(str(path), "label.png")]

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return {"img": self.img, "label": self.label, "trans_info": []}


def test_validation_image_over_budget_is_evaluated_in_a_sliding_window(
        tiny_config, random_checkpoint, mixed_folder, caplog):
    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.inference.choice import choose_runtime
    from paddle_segformer.inference.evaluate import evaluate_dataset, slide_when_too_large
    from paddle_segformer.inference.tiled import Tiling
    from paddle_segformer.integration.config import load_config

    dataset = _ValSet(mixed_folder / "big.png")
    _, builder = load_config(str(tiny_config))
    runtime = choose_runtime(RuntimeOptions("openvino"))
    test = InferenceOptions()
    _, whole = build_predictor(builder, str(tiny_config), str(random_checkpoint), test, "cpu", runtime)
    bounded = choose_runtime(RuntimeOptions("openvino", max_memory=_budget_between("openvino")))
    _, tiled = build_predictor(builder, str(tiny_config), str(random_checkpoint), test, "cpu", bounded, Tiling(128, 0))
    with caplog.at_level(logging.INFO):
        result = evaluate_dataset(tiled, dataset, 4, progress=False)
    assert any("big.png" in r.getMessage() and "predicted in tiles" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(result["confusion"], evaluate_dataset(whole, dataset, 4, progress=False)["confusion"])
    # the dynamic-graph path (test-time augmentation): PaddleSeg's own sliding window, switched on
    dynamic = MemoryGuard(B0_4, MemoryBudget(int(_budget_between("dynamic")), "test"))
    options = slide_when_too_large(dataset, dynamic, {"aug_eval": True, "flip_horizontal": True})
    assert options["is_slide"] and options["crop_size"][0] < 128 and options["stride"][0] < options["crop_size"][0]
    assert slide_when_too_large(dataset, whole.guard, {"aug_eval": True}) == {"aug_eval": True}
    assert slide_when_too_large(dataset, MemoryGuard(B0_4, MemoryBudget(2 ** 40, "test")), {}) == {}


@pytest.mark.slow
def test_export_refuses_a_size_that_does_not_fit(tiny_config, random_checkpoint, tmp_path):
    from paddle_segformer.cli.export import export_model
    from paddle_segformer.inference.memory import MemoryRefused
    from paddle_segformer.inference.static import StaticPredictor

    out = export_model(str(tiny_config), str(random_checkpoint), str(tmp_path / "export"))
    static = StaticPredictor(out, threads=2, budget=MemoryBudget(int(_budget_between("export")), "test"))
    assert static.run(np.zeros((1, 3, 64, 64), np.float32)).shape == (1, 64, 64)
    with pytest.raises(MemoryRefused, match="over the memory budget.*predict in tiles of at most"):
        static.run(np.zeros((1, 3, 96, 128), np.float32))
