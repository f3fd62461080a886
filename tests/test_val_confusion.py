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
