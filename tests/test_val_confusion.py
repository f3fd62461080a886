"""evaluate() through a runtime (here Paddle's, no export) returns the confusion matrix it scored (the notebook
draws it)."""
import json

import numpy as np

from paddle_segformer.cli.val import evaluate
from paddle_segformer.data.dataset import read_list_file
from paddle_segformer.inference.options import RuntimeOptions
from paddle_segformer.io.image import read_label
from paddle_segformer.report.metrics import scores


def test_confusion_is_returned_and_saved(tiny_config, random_checkpoint, tiny_data, tmp_path, registered):
    result = evaluate(str(tiny_config), str(random_checkpoint), save_dir=str(tmp_path),
                      runtime=RuntimeOptions(backend="paddle"))  # no export
    conf = np.asarray(result["confusion"])
    labels = [read_label(label) for _, label in read_list_file("val.txt", str(tiny_data))]
    assert conf.shape == (4, 4) and conf.sum() == sum(int((lab != 255).sum()) for lab in labels)
    assert scores(conf)["miou"] == result["miou"]  # the matrix the metrics came from
    assert json.loads((tmp_path / "metrics.json").read_text())["confusion"] == conf.tolist()


def _strict(text):
    """json.loads that refuses NaN / Infinity (not JSON: other readers reject them)."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_one_metrics_json_writer_for_the_report_and_paddlesegs_path(tmp_path):
    from paddle_segformer.report.evaluation import EvalReport, write_metrics

    report = EvalReport(np.array([[5, 1, 0], [2, 7, 0], [0, 0, 0]]), ["a", "b", "absent"])
    report.write(tmp_path / "report")  # the normal path: its contents as before the writers were merged
    assert (tmp_path / "report" / "metrics.json").read_text() == json.dumps(report.to_json(), indent=2)
    # val.py --auc_roc (PaddleSeg's core.evaluate result: numpy arrays and floats) through the same writer
    nan = float("nan")
    path = write_metrics(tmp_path / "auc", {"miou": np.float64(0.5), "kappa": nan, "n": np.int64(3),
                                            "class_iou": np.array([0.25, nan], np.float32)})
    assert _strict(path.read_text()) == {"miou": 0.5, "kappa": None, "n": 3, "class_iou": [0.25, None]}
    assert not list((tmp_path / "auc").glob(".*.part"))  # written atomically
