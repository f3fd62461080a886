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


def test_val_under_the_launcher_equals_one_process(tiny_config, random_checkpoint, tiny_data, tmp_path, registered):
    """Two processes each score half the images; the summed confusion matrix (all-reduce) is one process's."""
    import subprocess
    import sys

    from .conftest import REPO, env_with_threads

    single = evaluate(str(tiny_config), str(random_checkpoint), runtime=RuntimeOptions(backend="paddle"))
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), str(REPO / "val.py"), "--config", str(tiny_config), "--model_path",
           str(random_checkpoint), "--backend", "paddle", "--save_dir", str(tmp_path / "two")]
    run = subprocess.run(cmd, cwd=tmp_path, env=env_with_threads(1), capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text(errors="replace") for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert run.returncode == 0, run.stdout[-2000:] + logs[-3000:]
    count = len(read_list_file("val.txt", str(tiny_data)))
    for rank, share in ((0, (count + 1) // 2), (1, count // 2)):
        assert f"rank {rank} of 2: scoring {share} of {count} image(s)" in logs  # not every image twice
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["confusion"] == np.asarray(single["confusion"]).tolist()
    assert two["miou"] == single["miou"]
