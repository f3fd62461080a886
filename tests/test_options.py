"""The option sets of predict.py / val.py are objects built once from the flags, resolved over the config."""
import logging

import pytest

from paddle_segformer.cli import predict as predict_cli
from paddle_segformer.cli import val as val_cli
from paddle_segformer.inference.options import InferenceOptions, JobOptions, RuntimeOptions, TilingOptions
from paddle_segformer.inference.tiled import Tiling
from paddle_segformer.vector.options import VectorOptions


@pytest.mark.parametrize("flags, test_config, expected", [
    (TilingOptions(), {}, None),  # neither asks for tiles
    (TilingOptions(), {"tile": 256}, Tiling(256, 64, 1)),  # the config's tile, default overlap and batch
    (TilingOptions(), {"tile": 256, "overlap": 16, "batch_size": 4}, Tiling(256, 16, 4)),
    (TilingOptions(tile=0), {"tile": 256}, None),  # --tile 0 turns the config's tiling off
    (TilingOptions(tile=128, overlap=8), {"tile": 256, "overlap": 16, "batch_size": 4}, Tiling(128, 8, 4)),
])
def test_tiling_flags_over_the_config(flags, test_config, expected):
    assert flags.over(test_config) == expected


def test_predict_flags_become_four_option_objects():
    args = vars(predict_cli.build_parser().parse_args([
        "--config", "c.yml", "--model_path", "m", "--image_path", "i", "--tile", "96", "--overlap", "8",
        "--backend", "paddle", "--max_memory", "2G", "--threads", "3", "--aug_pred", "--flip_horizontal",
        "--overwrite", "--vector", "p.gpkg", "--min_area", "50"]))
    test = InferenceOptions.pop_arguments(args)
    tiling = TilingOptions.pop_arguments(args)
    runtime = RuntimeOptions.pop_arguments(args)
    job = JobOptions.pop_arguments(args)
    vector = VectorOptions.pop_arguments(args)
    assert test == InferenceOptions(aug_eval=True, flip_horizontal=True)
    assert tiling == TilingOptions(tile=96, overlap=8)
    assert runtime == RuntimeOptions(backend="paddle", threads=3, max_memory="2G")
    assert job == JobOptions(overwrite=True)
    assert vector is not None and (str(vector.out), vector.min_area) == ("p.gpkg", 50)
    # what is left is exactly predict()'s other parameters
    assert set(args) == {"config", "model_path", "image_path", "save_dir", "device", "opts", "custom_color",
                         "label_ids", "save_scores"}


def test_val_flags_leave_exactly_evaluates_parameters():
    args = vars(val_cli.build_parser().parse_args(["--config", "c.yml", "--model_path", "m", "--backend", "paddle"]))
    InferenceOptions.pop_arguments(args)
    assert RuntimeOptions.pop_arguments(args) == RuntimeOptions(backend="paddle")
    assert set(args) == {"config", "model_path", "save_dir", "num_workers", "device", "opts", "auc_roc",
                         "data_format"}


def test_int8_flags():
    args = vars(val_cli.build_parser().parse_args(["--config", "c.yml", "--model_path", "m", "--precision", "int8",
                                                   "--calib", "40"]))
    InferenceOptions.pop_arguments(args)
    assert RuntimeOptions.pop_arguments(args) == RuntimeOptions(precision="int8", calib=40)
    args = vars(predict_cli.build_parser().parse_args(["--config", "c", "--model_path", "m", "--image_path", "i",
                                                       "--precision", "int8"]))
    assert RuntimeOptions.pop_arguments(args).calib == 300  # the default


def test_runtime_options_refuse_unknown_values():
    with pytest.raises(ValueError, match="backend must be auto or one of"):
        RuntimeOptions(backend="tensorrt")
    with pytest.raises(ValueError, match="precision"):
        RuntimeOptions(precision="int4")


def test_run_cli_sets_threads_and_logging_once(monkeypatch):
    """Every command gets its thread settings and logging from run_cli, before its main runs."""
    from paddle_segformer.cli import runtime

    calls = []
    monkeypatch.setattr(runtime, "prepare_env", lambda import_paddle=True: calls.append(("env", import_paddle)))
    monkeypatch.setattr(runtime, "setup_logging", lambda: calls.append(("logging",)))
    assert runtime.run_cli(lambda argv: calls.append(("main", argv)) and 0, ["x"], uses_paddle=False) == 0
    assert calls == [("env", False), ("logging",), ("main", ["x"])]


def test_setup_logging_leaves_an_existing_configuration_alone(monkeypatch):
    from paddle_segformer.cli.runtime import setup_logging

    root = logging.getLogger()
    handler = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [handler])
    setup_logging()
    assert root.handlers == [handler]
