"""A folder predicted with images in flight side by side (OpenVINO streams, paddle_segformer.inference.lanes) writes
the labels of one image at a time, reports a broken file and writes the others; one at a time where lanes
cannot help."""
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from paddle_segformer.inference.folder import predict_folder
from paddle_segformer.inference.lanes import Lanes
from paddle_segformer.inference.memory import MemoryBudget

pytest.importorskip("openvino")


def _predictor(config, checkpoint, cache_dir, threads):
    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.inference.choice import choose_runtime
    from paddle_segformer.inference.options import InferenceOptions, RuntimeOptions
    from paddle_segformer.integration.config import load_config

    _, builder = load_config(str(config), pretrained=False)
    options = RuntimeOptions("openvino", threads=threads, cache_dir=str(cache_dir))
    return build_predictor(builder, str(config), str(checkpoint), InferenceOptions(), "cpu",
                           choose_runtime(options, InferenceOptions()))[1]


@pytest.fixture(scope="module")
def folder(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("lanes")
    for k, tile in enumerate(sorted(tiny_data.rglob("*.jpg"))[:7]):
        shutil.copy(tile, root / f"T{k}.jpg")
    (root / "B_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return root


def test_lanes_write_the_labels_of_one_image_at_a_time(tiny_config, random_checkpoint, folder, tmp_path, caplog,
                                                       registered):
    predictor = _predictor(tiny_config, random_checkpoint, tmp_path / "cache", threads=2)
    predictor.set_memory_budget(MemoryBudget(2 ** 40, "test"))
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        summary = predict_folder(predictor, str(folder), str(tmp_path / "out"), 4)
    assert "2 images in flight, each on an OpenVINO stream of 1 thread(s)" in caplog.text
    assert [p.name for p, _ in summary.failed] == ["B_broken.jpg"]
    images = sorted(p for p in folder.glob("*.jpg") if p.name != "B_broken.jpg")
    assert len(summary.written) == len(images) == 7
    for path in images:  # the latency session (2 threads, one image) is the reference
        with Image.open(tmp_path / "out" / "label" / path.with_suffix(".png").name) as im:
            np.testing.assert_array_equal(np.asarray(im), predictor.labels(predictor.load(path)), err_msg=path.name)


def test_lanes_share_the_memory_budget(tiny_config, random_checkpoint, tmp_path, registered):
    predictor = _predictor(tiny_config, random_checkpoint, tmp_path / "cache", threads=2)
    predictor.set_memory_budget(MemoryBudget(2 ** 30, "test"))
    with Lanes.for_folder(predictor, files=5) as lanes:
        assert lanes.predictor.guard.budget.limit == 2 ** 29 and predictor.guard.budget.limit == 2 ** 30
        assert lanes.predictor.backend is not predictor.backend and lanes.predictor.model is predictor.model


def test_one_at_a_time_where_lanes_cannot_help(tiny_config, random_checkpoint, tmp_path, registered):
    two = _predictor(tiny_config, random_checkpoint, tmp_path / "cache", threads=2)
    assert Lanes.for_folder(two, files=1) is None  # a single image: all cores on it
    assert Lanes.for_folder(_predictor(tiny_config, random_checkpoint, tmp_path / "cache", threads=1), 5) is None
    two.backend, dynamic = None, two  # the model through PaddleSeg (test-time augmentation's path)
    assert Lanes.for_folder(dynamic, files=5) is None
