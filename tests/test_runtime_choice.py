"""What runs inference is decided once (inference/choice.py) from the options; every caller asks it and one
log line says what runs and why."""
import logging

import pytest

from paddle_segformer.inference import choice
from paddle_segformer.inference.choice import AUTO_ORDER, choose_runtime
from paddle_segformer.inference.options import InferenceOptions, RuntimeOptions

AUG = InferenceOptions(aug_eval=True, flip_horizontal=True)
SLIDE = InferenceOptions(is_slide=True, crop_size=(32, 32), stride=(16, 16))


def test_auto_takes_the_installed_runtimes_fastest_first():
    picked = choose_runtime(RuntimeOptions(), InferenceOptions())
    assert picked.candidates == tuple(n for n in AUTO_ORDER if choice.installed(n)) and picked.fallback
    assert picked.candidates[-1] == "paddle" and not picked.dynamic and "fastest" in picked.reason
    assert choose_runtime(RuntimeOptions(), device="gpu:0").candidates == ("paddle",)
    asked = choose_runtime(RuntimeOptions("onnxruntime"), InferenceOptions())
    assert (asked.candidates, asked.reason, asked.fallback) == (("onnxruntime",), "asked for", False)
    assert asked.describe("onnxruntime") == "inference runtime: onnxruntime, fp32 (asked for)"


@pytest.mark.parametrize("test, auc_roc, why", [(AUG, False, "test-time augmentation"),
                                                (SLIDE, False, "sliding window"),
                                                (InferenceOptions(), True, "AUC-ROC")])
def test_paddleseg_paths_run_the_dynamic_graph(test, auc_roc, why, caplog):
    with caplog.at_level(logging.WARNING, logger="paddle_segformer.inference.choice"):
        picked = choose_runtime(RuntimeOptions("openvino"), test, auc_roc=auc_roc)
    assert picked.dynamic and picked.candidates == () and why in picked.reason
    assert picked.paddleseg_evaluate == auc_roc
    assert "Paddle's dynamic graph" in picked.describe() and why in picked.describe()
    assert "--backend openvino not used" in caplog.text  # the flag the choice leaves unused is named


def test_bf16_is_refused_when_chosen_not_after_the_model_is_built(monkeypatch):
    monkeypatch.setattr(choice, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="avx512_bf16"):
        choose_runtime(RuntimeOptions(precision="bf16"))
    with pytest.raises(ValueError, match="OpenVINO"):
        choose_runtime(RuntimeOptions("onnxruntime", precision="bf16"))
    assert choose_runtime(RuntimeOptions(precision="bf16"), AUG).dynamic  # not run: warned, not refused


def test_a_predictor_refuses_a_runtime_with_test_time_augmentation():
    """Before, the Predictor dropped the runtime silently (a second place deciding); now the choice is the
    only one and a mismatch is an error."""
    import paddle
    from paddleseg.transforms import Normalize

    from paddle_segformer.inference.backends import create_backend
    from paddle_segformer.inference.predictor import Predictor
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    paddle.seed(0)
    model = SegFormer(3, mit("b0"))
    backend = create_backend(model, RuntimeOptions("paddle"))
    assert Predictor(model, [Normalize()], backend=backend).runtime == "paddle"
    assert Predictor(model, [Normalize()], options=AUG).runtime == choice.DYNAMIC
    with pytest.raises(ValueError, match="cannot run test-time augmentation"):
        Predictor(model, [Normalize()], options=AUG, backend=backend)


def test_build_predictor_logs_one_line_for_what_runs(tiny_config, random_checkpoint, registered, caplog):
    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.integration.config import load_config

    _, builder = load_config(str(tiny_config))
    for test, runtime, expected in ((AUG, RuntimeOptions(), "Paddle's dynamic graph through PaddleSeg"),
                                    (InferenceOptions(), RuntimeOptions("paddle"), "paddle, fp32 (asked for)")):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            _, predictor = build_predictor(builder, str(tiny_config), str(random_checkpoint), test, "cpu",
                                           choose_runtime(runtime, test))
        lines = [r.getMessage() for r in caplog.records if "inference runtime:" in r.getMessage()]
        assert len(lines) == 1 and expected in lines[0], lines
        assert predictor.runtime == ("paddle" if test.plain else choice.DYNAMIC)
