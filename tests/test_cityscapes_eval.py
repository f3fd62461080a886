"""The evaluation report and its agreement with the official Cityscapes evaluation (cityscapesscripts)."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paddle_segformer.data import cityscapes_labels as cs
from paddle_segformer.data.cityscapes_layout import find_frames
from paddle_segformer.io.image import encode_png
from paddle_segformer.report.evaluation import EvalReport
from paddle_segformer.report.metrics import confusion_matrix

from .cityscapes_helpers import write_mini_cityscapes, write_recipe_config


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_mini_cityscapes(tmp_path_factory.mktemp("cityscapes"))


def official_scores(gt_root: Path, predictions: Path, monkeypatch):
    """(class IoU by name, mean IoU) of cityscapesscripts' evalPixelLevelSemanticLabeling, run in process."""
    ev = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")  # requirements-dev
    settings = {"predictionPath": str(predictions), "predictionWalk": None, "evalInstLevelScore": False,
                "evalPixelAccuracy": False, "JSONOutput": False, "quiet": True}
    for key, value in settings.items():
        monkeypatch.setattr(ev.args, key, value)
    gts = sorted(str(p) for p in (gt_root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    result = ev.evaluateImgLists([ev.getPrediction(ev.args, gt) for gt in gts], gts, ev.args)
    return {name: result["classScores"][name] for name in cs.CLASS_NAMES}, result["averageScoreClasses"]


def assert_same_scores(ours: dict, official: dict, official_mean: float):
    for i, name in enumerate(cs.CLASS_NAMES):
        theirs = official[name]
        if np.isnan(theirs):
            assert ours["per_class"][name]["iou"] is None and ours["class_iou"][i] is None, name
        else:
            assert ours["per_class"][name]["iou"] == pytest.approx(theirs, abs=1e-6), name
    assert ours["miou"] == pytest.approx(official_mean, abs=1e-6)


def test_report_convention_and_files(tmp_path):
    conf = np.array([[50, 5, 0, 0], [10, 30, 0, 4], [0, 0, 0, 0], [0, 0, 0, 0]])  # class 2 absent, 3 only predicted
    report = EvalReport(conf, ["a", "b", "c", "d"])
    paths = report.write(tmp_path)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    iou = [50 / 65, 30 / 49, None, 0.0]
    assert data["class_iou"] == pytest.approx(iou) and data["per_class"]["c"] == {
        "iou": None, "precision": None, "recall": None, "f1": None, "gt_pixels": 0, "pred_pixels": 0}
    assert data["miou"] == pytest.approx((50 / 65 + 30 / 49 + 0) / 3) and data["absent_classes"] == ["c"]
    assert data["acc"] == pytest.approx(80 / 99) and data["classes_scored"] == 3
    assert data["per_class"]["d"]["recall"] == 0.0 and data["per_class"]["a"]["f1"] == pytest.approx(100 / 115)
    assert "left out of the means" in data["convention"] and data["confusion"] == conf.tolist()
    rows = paths["csv"].read_text(encoding="utf-8").splitlines()
    assert rows[0] == "ground truth \\ prediction,a,b,c,d" and rows[2] == "b,10,30,0,4"
    with Image.open(io.BytesIO(paths["png"].read_bytes())) as im:
        assert im.format == "PNG" and min(im.size) > 200
    table = report.table()
    assert "c" in table and "null" in table and "over 3 of 4 classes" in table


def test_report_agrees_with_cityscapesscripts_on_labelid_predictions(mini, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    results = tmp_path / "results"
    conf = np.zeros((19, 19), np.int64)
    for frame in find_frames(mini, "val"):
        truth = cs.to_train_ids(np.asarray(Image.open(frame.label_ids)))
        pred = np.where(truth == 255, rng.integers(0, 19, truth.shape), truth)  # void pixels: any prediction
        for _ in range(12):  # wrong blocks, some of classes absent from the ground truth
            y, x = rng.integers(0, 80), rng.integers(0, 170)
            pred[y:y + 16, x:x + 20] = rng.choice([0, 2, 10, 13, 16, 17])
        pred[pred == 18] = 13  # bicycle: neither in ground truth nor predicted -> no score
        out = results / frame.image.parent.name / frame.image.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(encode_png(cs.to_label_ids(pred)))
        conf += confusion_matrix(pred, truth, 19)
    ours = EvalReport(conf, cs.CLASS_NAMES).to_json()
    official, mean = official_scores(mini, results, monkeypatch)
    assert np.isnan(official["bicycle"]) and sum(not np.isnan(v) for v in official.values()) >= 10
    assert_same_scores(ours, official, mean)


def _random_checkpoint(config, path):
    import paddle

    from paddle_segformer.integration.config import load_config

    paddle.seed(1)
    _, builder = load_config(str(config))
    paddle.save(builder.model.state_dict(), str(path))
    return path


def test_val_report_and_predicted_label_ids_agree_with_cityscapesscripts(mini, tmp_path, monkeypatch, registered):
    import paddleseg.core.infer as infer

    from paddle_segformer.cli.predict import predict
    from paddle_segformer.cli.val import evaluate

    config = write_recipe_config(tmp_path / "recipe.yml", mini)
    checkpoint = _random_checkpoint(config, tmp_path / "model.pdparams")
    windows = []
    slide = infer.slide_inference
    monkeypatch.setattr(infer, "slide_inference", lambda *a, **k: windows.append(1) or slide(*a, **k))
    result = evaluate(str(config), str(checkpoint), save_dir=str(tmp_path / "eval"))
    assert len(windows) == 4  # the config's sliding window (64, stride 48) on each 96 x 192 frame
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    assert report["class_names"] == list(cs.CLASS_NAMES) and report["miou"] == pytest.approx(result["miou"])
    assert (tmp_path / "eval" / "confusion_matrix.csv").is_file() and (tmp_path / "eval" / "confusion_matrix.png").is_file()
    summary = predict(str(config), str(checkpoint), str(mini / "leftImg8bit" / "val"), str(tmp_path / "pred"),
                      label_ids="cityscapes")
    assert not summary.failed and len(summary.written) == 4
    for frame in find_frames(mini, "val"):
        written = tmp_path / "pred" / "label" / frame.image.parent.name / frame.image.name
        values = set(np.unique(np.asarray(Image.open(written))).tolist())
        assert values and values <= set(cs.TRAIN_LABEL_IDS)  # official labelIds, not trainIds
        with Image.open(tmp_path / "pred" / "pseudo_color" / written.relative_to(tmp_path / "pred" / "label")) as im:
            assert im.getpalette()[:6] == [128, 64, 128, 244, 35, 232]  # trainIds in the official colours
    official, mean = official_scores(mini, tmp_path / "pred" / "label", monkeypatch)
    assert_same_scores(report, official, mean)


def test_sliding_window_evaluation_equals_paddleseg(mini, tmp_path, registered):
    """val.py now scores sliding windows in its own loop (for the report): the same per-class numbers as
    PaddleSeg's core.evaluate with the same windows."""
    from paddleseg import core

    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.inference.evaluate import evaluate_dataset
    from paddle_segformer.inference.options import InferenceOptions
    from paddle_segformer.integration.config import load_config

    config = write_recipe_config(tmp_path / "recipe.yml", mini)
    checkpoint = _random_checkpoint(config, tmp_path / "model.pdparams")
    cfg, builder = load_config(str(config))
    window = dict(cfg.test_config)
    model, predictor = build_predictor(builder, str(config), str(checkpoint),
                                       InferenceOptions.from_config(window), "cpu")
    assert predictor.backend is None and predictor.slide["is_slide"]
    dataset = builder.val_dataset
    ours = evaluate_dataset(predictor, dataset, dataset.num_classes, dataset.ignore_index, progress=False)
    miou, acc, class_iou, class_precision, kappa = core.evaluate(model, dataset, print_detail=False, **window)
    np.testing.assert_allclose(ours["class_iou"], class_iou, atol=1e-6)
    np.testing.assert_allclose(ours["class_precision"], class_precision, atol=1e-6)
    assert (ours["miou"], ours["acc"], ours["kappa"]) == pytest.approx((miou, acc, kappa), abs=1e-6)
