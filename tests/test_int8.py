"""--precision int8: NNCF's quantisation of the folded graph, run by OpenVINO, against float32 on a B0 trained
for a few iterations on the synthetic tiles (random weights would give meaningless labels)."""
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from paddle_segformer.inference.choice import choose_runtime
from paddle_segformer.inference.int8 import (Calibration, QuantSettings, float_parts_precision, int8_key,
                                             slow_int8_reason, warn_if_slow)
from paddle_segformer.inference.int8_accuracy import Int8DropTooLarge, Validation, check_drop
from paddle_segformer.inference.options import RuntimeOptions

from .conftest import write_config
from .test_quiet_output import NOISE

pytest.importorskip("nncf")
pytest.importorskip("openvino")

# Measured (scripts: a B0 trained 40 iterations, batch 4, as the fixture below): 64 px tiles, 16 calibration and
# 8 held-out tiles: 0.9963 of the labels equal float32's; 128 px, 40 calibration and 20 held-out tiles: 0.9981.
# The bound leaves room for other CPUs and for training's last-digit drift.
MIN_AGREEMENT = 0.97


@pytest.fixture(scope="module")
def trained(tiny_data, registered, tmp_path_factory):
    """(config, checkpoint) of a B0 trained 40 iterations on the tiny tiles."""
    from paddle_segformer.cli.train import train

    root = tmp_path_factory.mktemp("int8")
    cfg = write_config(root / "b0.yml", tiny_data, {"train_dataset": {"transforms": [{"type": "Normalize"}]}})
    train(str(cfg), save_dir=str(root / "out"), iters=40, batch_size=4, learning_rate=0.002, log_iters=40,
          save_interval=40, seed=0)
    return str(cfg), str(root / "out" / "iter_40" / "model.pdparams")


def _predictor(config, checkpoint, precision, cache_dir, calib=300, **int8):
    from paddle_segformer.cli.inference import build_predictor
    from paddle_segformer.inference.options import InferenceOptions
    from paddle_segformer.integration.config import load_config

    _, builder = load_config(config, pretrained=False)
    options = RuntimeOptions("openvino", precision, threads=1, cache_dir=str(cache_dir), calib=calib, **int8)
    return build_predictor(builder, config, checkpoint, InferenceOptions(), "cpu",
                           choose_runtime(options, InferenceOptions()))[1]


def _labels(predictor, images):
    return np.stack([predictor.labels(predictor.load(path)) for path in images])


@pytest.mark.slow
def test_int8_labels_agree_with_float32(trained, tiny_data, tmp_path):
    config, checkpoint = trained
    images = [tiny_data / line.split()[0] for line in (tiny_data / "val.txt").read_text().splitlines()]  # held out
    reference = _labels(_predictor(config, checkpoint, "fp32", tmp_path), images)
    agreement = float((_labels(_predictor(config, checkpoint, "int8", tmp_path), images) == reference).mean())
    assert agreement >= MIN_AGREEMENT, agreement


def test_int8_model_is_made_once(tiny_config, random_checkpoint, tmp_path, caplog):
    config, checkpoint = str(tiny_config), str(random_checkpoint)
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        first = _predictor(config, checkpoint, "int8", tmp_path, calib=3)
    assert "quantised the inference graph to INT8" in caplog.text
    assert first.backend.path.endswith("model.xml") and "/int8-" in first.backend.path
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        again = _predictor(config, checkpoint, "int8", tmp_path, calib=3)
    assert "quantised" not in caplog.text and "using cached int8-" in caplog.text  # not quantised again
    assert again.backend.path == first.backend.path
    record = json.loads((Path(first.backend.path).parent / "int8.json").read_text())
    import openvino as ov

    parts = float_parts_precision(ov.Core())  # bf16 on a CPU with AVX-512 bf16 / AMX, else f32
    assert len(record["calibration_files"]) == 3 and record["settings"] == asdict(QuantSettings(float_parts=parts))
    assert first.backend.config["INFERENCE_PRECISION_HINT"] == parts  # runs as it was scored
    assert first.backend.bf16_out == (parts == "bf16")  # its bf16 logits layer's output handed over as it is
    accuracy = record["accuracy"]  # the tiny config has a validation list: accuracy control ran on it
    assert accuracy["control"] == "nncf.quantize_with_accuracy_control" and accuracy["validation_count"] == 8
    assert accuracy["drop"] == pytest.approx(accuracy["float_miou"] - accuracy["int8_miou"], abs=1e-5)


def test_float_parts_follow_the_cpu():
    """An INT8 model's floating-point layers run in bf16 only where OpenVINO's CPU plugin has BF16."""
    class Core:
        def __init__(self, caps):
            self.caps = caps

        def get_property(self, device, name):
            assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
            return self.caps

    assert float_parts_precision(Core(["BF16", "FP32", "INT8"])) == "bf16"
    assert float_parts_precision(Core(["FP32", "INT8"])) == "f32"  # an AVX2-only CPU
    assert int8_key(Calibration.draw(["a.jpg"], 1, np.zeros), QuantSettings(float_parts="bf16")) != \
        int8_key(Calibration.draw(["a.jpg"], 1, np.zeros), QuantSettings(float_parts="f32"))


@pytest.mark.parametrize("cap, parts", [("AVX2", "f32"), ("avx512_core_vnni", "f32"), ("AVX512_CORE_AMX", "bf16"),
                                         ("", "bf16")])
def test_float_parts_follow_an_isa_cap(monkeypatch, cap, parts):
    """ONEDNN_MAX_CPU_ISA below bf16 (an AVX2-only CPU emulated) keeps the float parts in f32, though OpenVINO
    still reports BF16 on the machine underneath."""
    class Core:
        def get_property(self, device, name):
            return ["BF16", "FP32", "INT8"]

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert float_parts_precision(Core()) == parts


def test_calibration_set_changes_the_key():
    files = [f"img_train/T{i:06d}.jpg" for i in range(10)]
    settings = QuantSettings()

    def key(names, count):
        return int8_key(Calibration.draw(names, count, np.zeros), settings)

    assert key(files, 5) == key(list(files), 5)  # deterministic
    assert key(files, 5) != key(files, 4)
    assert key(files, 5) != key(files[:9] + ["img_train/other.jpg"], 5)
    assert key(files, 5) != int8_key(Calibration.draw(files, 5, np.zeros), QuantSettings(float_logits=False))
    assert len(Calibration.draw(files, 300, np.zeros).files) == 10  # capped by the list


def _validation(pairs, count=5):
    return Validation.draw(pairs, count, lambda i: None, lambda forward, items: (0.0, []))


def test_validation_list_and_limit_change_the_key():
    calib = [f"img_train/T{i:06d}.jpg" for i in range(10)]
    pairs = [(f"img_train/V{i:06d}.jpg", f"lab_train/V{i:06d}.png") for i in range(10)]

    def key(validation, settings=QuantSettings()):
        return int8_key(Calibration.draw(calib, 5, np.zeros, validation), settings)

    assert key(_validation(pairs)) == key(_validation(list(pairs)))  # deterministic
    assert len({key(None), key(_validation(pairs)), key(_validation(pairs, 4)),
                key(_validation(pairs[:9] + [("img_train/W.jpg", "lab_train/W.png")])),
                key(_validation(pairs[:9] + [(pairs[9][0], "lab_train/other.png")])),
                key(_validation(pairs), QuantSettings(max_drop=0.02))}) == 6
    assert len(_validation(pairs, 300)) == 10  # capped by the list


def test_a_recorded_drop_over_the_limit_is_refused():
    made = {"control": "nncf.quantize_with_accuracy_control", "float_miou": 0.8, "int8_miou": 0.75,
            "validation_count": 8}
    check_drop({"accuracy": dict(made, drop=0.01, limit=0.01)}, "m.xml")  # at the limit: accepted
    check_drop({"accuracy": {"control": "no accuracy control", "limit": 0.01}}, "m.xml")  # nothing measured
    with pytest.raises(Int8DropTooLarge, match=r"lost 0\.0500 mIoU .* limit 0\.01.*--calib.*--int8_max_drop.*fp32"):
        check_drop({"accuracy": dict(made, drop=0.05, limit=0.01)}, "m.xml")


NNCF_NOISE = ("━", "Statistics collection", "Applying ", "INFO:nncf", "Validation of", "Collecting")


def test_predict_refuses_an_int8_model_that_lost_too_much(tiny_config, random_checkpoint, tiny_data, tmp_path,
                                                          capfd, caplog):
    """predict.py --precision int8 makes the INT8 model (NNCF's progress bars and INFO lines kept out of the
    output) and predicts; with its record then saying it lost more than its limit, predict.py exits 2 with one
    error line, before predicting anything."""
    from paddle_segformer.cli.predict import main
    from paddle_segformer.cli.runtime import run_cli

    config, checkpoint = str(tiny_config), str(random_checkpoint)
    args = ["--config", config, "--model_path", checkpoint, "--image_path", str(tiny_data / "img_testA"),
            "--precision", "int8", "--calib", "3", "--int8_val", "2", "--int8_max_drop", "1",
            "--cache_dir", str(tmp_path / "cache"), "--threads", "1"]
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        assert run_cli(main, args + ["--save_dir", str(tmp_path / "made")]) == 0
    out = "".join(capfd.readouterr()) + caplog.text
    assert "quantised the inference graph to INT8" in out and "predicted 3 image(s), 0 failed" in out
    assert [n for n in NNCF_NOISE + NOISE if n in out] == [], out[-3000:]
    record_path = next((tmp_path / "cache").glob("*/int8-*/int8.json"))
    record = json.loads(record_path.read_text())
    record["accuracy"].update(int8_miou=record["accuracy"]["float_miou"] - 2, drop=2.0)
    record_path.write_text(json.dumps(record))
    assert run_cli(main, args + ["--save_dir", str(tmp_path / "pred")]) == 2
    err = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "lost 2.0000 mIoU" in err[0] and "limit 1:" in err[0], err
    assert not (tmp_path / "pred" / "label").exists() or not any((tmp_path / "pred" / "label").iterdir())


@pytest.mark.slow
def test_another_int8_model_redoes_the_outputs(tiny_config, random_checkpoint, tiny_data, tmp_path, caplog):
    """Re-running predict.py into the same folder with another calibration set (another INT8 model) predicts
    every file again instead of skipping them as done; the same command again skips them all."""
    from paddle_segformer.cli.predict import main
    from paddle_segformer.cli.runtime import run_cli

    args = ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path",
            str(tiny_data / "img_testA"), "--precision", "int8", "--int8_val", "2", "--int8_max_drop", "1",
            "--cache_dir", str(tmp_path / "cache"), "--threads", "1", "--save_dir", str(tmp_path / "out")]
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        for calib, expected in (("3", "predicted 3 image(s)"), ("2", "predicted 3 image(s)"),
                                ("2", "predicted 0 image(s)")):
            caplog.clear()
            assert run_cli(main, args + ["--calib", calib]) == 0
            assert expected in caplog.text, (calib, caplog.text[-2000:])


@pytest.mark.parametrize("backend", ["onnxruntime", "inference", "paddle"])
def test_int8_needs_openvino(backend):
    with pytest.raises(ValueError, match="int8 runs through OpenVINO"):
        choose_runtime(RuntimeOptions(backend, "int8"))


def test_int8_auto_picks_openvino_and_refuses_gpu():
    assert choose_runtime(RuntimeOptions(precision="int8")).candidates == ("openvino",)
    with pytest.raises(ValueError, match="GPU"):
        choose_runtime(RuntimeOptions(precision="int8"), device="gpu")
    with pytest.raises(ValueError, match="--calib"):
        RuntimeOptions(precision="int8", calib=0)
    with pytest.raises(ValueError, match="--int8_max_drop"):
        RuntimeOptions(precision="int8", int8_max_drop=-1)
    with pytest.raises(ValueError, match="--int8_val"):
        RuntimeOptions(precision="int8", int8_val=0)


@pytest.mark.slow
def test_accuracy_control_on_a_trained_model(trained, tiny_data, tmp_path, caplog):
    """A real quantize_with_accuracy_control run: val.py --precision int8 prints INT8's metrics beside float32's,
    the same mIoUs int8.json records (all 8 validation tiles scored both times); predict.py then predicts when
    the recorded drop is within the limit and refuses the model otherwise."""
    import re

    from paddle_segformer.cli.predict import main as predict_main
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.val import main as val_main

    config, checkpoint = trained
    common = ["--config", config, "--model_path", checkpoint, "--precision", "int8", "--calib", "16",
              "--cache_dir", str(tmp_path / "cache"), "--threads", "1"]
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        assert run_cli(val_main, common) == 0
    shown = re.search(r"mIoU +int8 ([\d.]+) +float32 ([\d.]+) +difference ([-+][\d.]+)", caplog.text)
    assert shown and all(f"{name} " in caplog.text for name in ("Acc", "Kappa", "Dice")), caplog.text[-2000:]
    accuracy = json.loads(next((tmp_path / "cache").glob("*/int8-*/int8.json")).read_text())["accuracy"]
    assert accuracy["control"] == "nncf.quantize_with_accuracy_control" and accuracy["validation_count"] == 8
    assert float(shown[1]) == pytest.approx(accuracy["int8_miou"], abs=1e-3)  # runtime settings: last digits
    assert float(shown[2]) == pytest.approx(accuracy["float_miou"], abs=1e-3)
    status = run_cli(predict_main, common + ["--image_path", str(tiny_data / "img_testA"),
                                              "--save_dir", str(tmp_path / "pred")])
    assert status == (0 if accuracy["drop"] <= accuracy["limit"] else 2), accuracy


def test_without_a_readable_validation_list_plain_quantisation(tiny_data, random_checkpoint, tmp_path, caplog):
    """A config whose validation list cannot be read here: a warning, nncf.quantize without accuracy control,
    and int8.json says so (predict.py then has no drop to refuse)."""
    config = write_config(tmp_path / "noval.yml", tiny_data, {"val_dataset": {"val_path": "missing.txt"}})
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        made = _predictor(str(config), str(random_checkpoint), "int8", tmp_path, calib=2)
    assert "validation list cannot be read" in caplog.text and "no accuracy control" in caplog.text
    record = json.loads((Path(made.backend.path).parent / "int8.json").read_text())
    assert record["accuracy"] == {"control": "no accuracy control", "limit": 0.01}
    check_drop(record, made.backend.path)  # nothing measured: nothing refused


@pytest.mark.parametrize("flags, cap, slow", [
    (["avx2", "fma"], "", True),  # an AVX2-only CPU
    (["avx2", "avx512f", "avx512_vnni"], "", False),
    (["avx2", "avx_vnni"], "", False),  # AVX-VNNI without AVX-512 (Alder Lake and later)
    (["avx2", "avx512f", "avx512_vnni", "amx_int8"], "AVX2", True),  # bench_inference.py --isa avx2
    (["avx2", "avx512f", "avx512_vnni"], "avx512_core", True),
    (["avx2", "avx512f", "avx512_vnni"], "avx512_core_vnni", False),
])
def test_int8_on_a_cpu_without_vnni_is_said_to_be_slow(flags, cap, slow, monkeypatch, caplog):
    assert (slow_int8_reason(flags, cap) is not None) == slow
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        warn_if_slow(flags)
    assert ("use --precision fp32 here" in caplog.text) == slow
