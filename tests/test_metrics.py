"""Metrics on hand-made cases with known values, through PaddleSeg's evaluate and our numpy code."""
import numpy as np
import paddle
import pytest
from paddleseg import core

from paddle_segformer.cli.val import complete_metrics
from paddle_segformer.integration import compat
from paddle_segformer.report.metrics import confusion_matrix, scores

# 2 classes on a 4x4 image; label row-major, pred differs in 3 pixels, one pixel ignored.
LABEL = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 255, 1]])
PRED = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1], [1, 0, 1, 1]])
# class 0: TP 5, FP 2 (pred 0 where label 1), FN 1 -> IoU 5/8; class 1: TP 7, FP 1, FN 2 -> IoU 7/10
IOU = np.array([5 / 8, 7 / 10])
PRECISION = np.array([5 / 7, 7 / 8])
RECALL = np.array([5 / 6, 7 / 9])


def test_numpy_scores_known_case():
    result = scores(confusion_matrix(PRED, LABEL, 2))
    np.testing.assert_allclose(result["class_iou"], IOU)
    np.testing.assert_allclose(result["class_precision"], PRECISION)
    np.testing.assert_allclose(result["class_recall"], RECALL)
    np.testing.assert_allclose(result["class_dice"], 2 * IOU / (1 + IOU))
    assert result["acc"] == pytest.approx(12 / 15)
    p_e = (7 * 6 + 8 * 9) / 15 ** 2
    assert result["kappa"] == pytest.approx((12 / 15 - p_e) / (1 - p_e))


class FixedPrediction(paddle.nn.Layer):
    """A 'model' whose logits are one-hot of a fixed prediction (whatever the input)."""

    def __init__(self, pred):
        super().__init__()
        self.logits = paddle.to_tensor(np.eye(2, dtype="float32")[pred].transpose(2, 0, 1)[None])

    def forward(self, x):
        return [self.logits]


class OneSample(paddle.io.Dataset):
    num_classes, ignore_index = 2, 255

    def __len__(self):
        return 1

    def __getitem__(self, idx):
        return {"img": np.zeros((3, 4, 4), "float32"), "label": LABEL[None].astype("int64"), "trans_info": []}


def test_paddleseg_evaluate_known_case_and_derived_metrics():
    compat.apply()
    miou, acc, class_iou, class_precision, kappa = core.evaluate(FixedPrediction(PRED), OneSample(),
                                                                 print_detail=False)
    np.testing.assert_allclose(class_iou, IOU, rtol=1e-6)
    np.testing.assert_allclose(class_precision, PRECISION, rtol=1e-6)
    assert miou == pytest.approx(IOU.mean()) and acc == pytest.approx(12 / 15)
    derived = complete_metrics(class_iou, class_precision)
    np.testing.assert_allclose(derived["class_recall"], RECALL, rtol=1e-6)
    np.testing.assert_allclose(derived["class_dice"], 2 * IOU / (1 + IOU), rtol=1e-6)


def test_derived_recall_when_nothing_is_hit():
    derived = complete_metrics(np.array([0.0, 0.5]), np.array([0.0, 1.0]))
    assert derived["class_recall"].tolist() == [0.0, 0.5]
