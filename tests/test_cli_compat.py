"""Article-era commands: config names looked up under configs/, missing data explained, PaddleSeg's flags."""
import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from paddle_segformer.cli.legacy_flags import export_input_size, legacy_output_op, parse_custom_color, str2bool
from paddle_segformer.inference.options import RuntimeOptions
from paddle_segformer.integration.config import ConfigError, resolve_config

from .conftest import REPO, env_with_threads, write_config


def _run(*args, cwd=REPO, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env_with_threads(2))


def test_config_names_are_looked_up_under_configs(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the project's own folder is searched
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        found = {name: resolve_config(name) for name in
                 ("segformerb3", "segformerb3.yml", "geotiff/segformer_b0_rgbn", "segformer_b0_rgbn.yml")}
    assert os.path.samefile(found["segformerb3"], REPO / "configs" / "segformerb3.yml")
    assert found["segformerb3"] == found["segformerb3.yml"]
    assert found["geotiff/segformer_b0_rgbn"] == found["segformer_b0_rgbn.yml"]
    assert os.path.samefile(found["segformer_b0_rgbn.yml"], REPO / "configs" / "geotiff" / "segformer_b0_rgbn.yml")
    assert any(r.getMessage().startswith("config segformerb3.yml: using ") for r in caplog.records)
    with pytest.raises(ConfigError, match=r"config file not found: segformerb33\.yml; closest config names: "
                                          r".*segformerb3\.yml"):
        resolve_config("segformerb33.yml")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "segformerb3.yml").write_text("iters: 1\n", encoding="utf-8")
    assert resolve_config("segformerb3") == os.path.join("configs", "segformerb3.yml")  # ./configs first


def test_article_command_without_data_stops_before_the_model(tmp_path):
    if (REPO / "data" / "rs_parcels").exists():
        pytest.skip("data/rs_parcels exists in this checkout")
    run = _run("train.py", "--config", "segformerb3.yml", "--fp16")
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr
    assert errors[0].startswith("error: dataset folder not found: data/rs_parcels (train_dataset.dataset_root in "
                                "segformerb3.yml, relative to ")
    assert "python data_split.py 0.98 0.02 0 data/rs_parcels/img_train data/rs_parcels/lab_train" in errors[0]
    assert "config segformerb3.yml: using configs/segformerb3.yml" in run.stderr
    assert "to build model" not in run.stdout  # PaddleSeg's builder never ran


def test_other_entry_points_look_names_up_too(tmp_path):
    val = _run("val.py", "--config", "segformerb3", "--model_path", str(tmp_path / "none.pdparams"))
    assert val.returncode == 2 and "error: dataset folder not found: data/rs_parcels (val_dataset" in val.stderr
    for script in ("predict.py", "export.py"):
        args = ["--config", "segformer_b33", "--model_path", "m.pdparams"]
        run = _run(script, *args, *(["--image_path", str(tmp_path)] if script == "predict.py" else []))
        assert run.returncode == 2, run.stderr[-2000:]
        assert "error: config file not found: segformer_b33; closest config names: " in run.stderr
        assert "configs/segformerb3.yml" in run.stderr


def test_missing_list_file_names_the_command(tmp_path, registered):
    from paddle_segformer.cli.train import train

    (tmp_path / "root").mkdir()
    cfg = write_config(tmp_path / "nolist.yml", tmp_path / "root")
    with pytest.raises(ConfigError, match=r"list file not found: train\.txt \(train_dataset\.train_path in .*"
                                          r"Write it with: python data_split\.py 0\.98 0\.02 0 "):
        train(str(cfg), save_dir=str(tmp_path / "o"), iters=1)


@pytest.fixture
def fake_core_train(monkeypatch):
    """paddleseg.core.train replaced by a recorder: what train() hands over, without training."""
    from paddleseg import core

    calls = []
    monkeypatch.setattr(core, "train", lambda model, train_dataset, **kwargs: calls.append((train_dataset, kwargs)))
    return calls


def test_train_flags_of_paddleseg(tiny_config, tmp_path, fake_core_train, registered):
    from paddle_segformer.cli.train import train

    train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=2)
    train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=2, repeats=3, profiler_options="batch_range=[1,2]")
    (plain, plain_kwargs), (repeated, kwargs) = fake_core_train
    assert len(repeated) == 3 * len(plain) and plain_kwargs["profiler_options"] is None
    assert kwargs["profiler_options"] == "batch_range=[1,2]"
    with pytest.raises(ValueError, match="NHWC.*DeepLabV3P only"):
        train(str(tiny_config), save_dir=str(tmp_path / "o"), iters=2, data_format="NHWC")
    assert len(fake_core_train) == 2


def test_rising_schedule_is_warned_at_the_start(tiny_data, tmp_path, fake_core_train, caplog, registered):
    from paddle_segformer.cli.train import train

    cfg = write_config(tmp_path / "rising.yml", tiny_data, {"lr_scheduler": {"end_lr": 0.01}})
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        train(str(cfg), save_dir=str(tmp_path / "o"), iters=4)
    lines = [r.getMessage() for r in caplog.records if "learning rate" in r.getMessage()]
    assert lines[0].startswith("learning rate (1-iteration LinearWarmup, then PolynomialDecay power 1, end_lr 0.01)")
    assert "RISES from 0.001 at iteration 2 to 0.007 at iteration 4" in lines[1]


def test_device_falls_back_to_cpu_like_paddleseg(caplog):
    import paddle

    from paddle_segformer.cli.runtime import select_device

    if paddle.device.is_compiled_with_cuda():
        pytest.skip("a CUDA build")
    with caplog.at_level(logging.WARNING, logger="paddle_segformer"):
        assert select_device("gpu") == "cpu"
    assert "--device gpu asked, but this Paddle is the CPU build" in caplog.text
    with pytest.raises(ValueError, match="--device must be"):
        select_device("tpu")


def test_predict_custom_color_and_list_file(tiny_config, tiny_data, random_checkpoint, tmp_path, registered):
    from paddle_segformer.cli.predict import predict

    listed = sorted(p.name for p in (tiny_data / "img_testA").iterdir())[:2]
    image_list = tiny_data / "predict_list.txt"
    image_list.write_text("".join(f"img_testA/{name} ignored_second_column\n" for name in listed), encoding="utf-8")
    colours = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    summary = predict(str(tiny_config), str(random_checkpoint), str(image_list), save_dir=str(tmp_path / "p"),
                      runtime=RuntimeOptions(backend="paddle"), custom_color=colours)
    assert sorted(p.name for p in summary.written) == sorted(n.rsplit(".", 1)[0] + ".png" for n in listed)
    label_png = Image.open(tmp_path / "p" / "label" / "img_testA" / (listed[0].rsplit(".", 1)[0] + ".png"))
    assert label_png.getpalette()[:12] == colours
    pseudo = np.asarray(Image.open(tmp_path / "p" / "pseudo_color" / "img_testA" /
                                   label_png.filename.split("/")[-1]).convert("RGB"))
    label = np.asarray(label_png)
    for cls in np.unique(label):
        assert tuple(pseudo[label == cls][0]) == tuple(colours[3 * cls:3 * cls + 3])
    with pytest.raises(ValueError, match=r"--custom_color takes R G B .* got 4 value\(s\)"):
        predict(str(tiny_config), str(random_checkpoint), str(image_list), custom_color=[1, 2, 3, 4])


def test_val_auc_roc_as_in_paddleseg(tiny_config, tiny_data, random_checkpoint, tmp_path, capsys, registered):
    from paddle_segformer.cli.val import evaluate

    with pytest.raises(ValueError, match=r"--auc_roc: PaddleSeg's AUC-ROC cannot score labels with ignored"):
        evaluate(str(tiny_config), str(random_checkpoint), auc_roc=True)  # the tiles have 255 pixels
    clean = tmp_path / "clean"
    shutil.copytree(tiny_data, clean)
    for path in (clean / "lab_train").iterdir():
        label = np.asarray(Image.open(path)).copy()
        label[label == 255] = 0
        Image.fromarray(label).save(path)
    cfg = write_config(tmp_path / "clean.yml", clean)
    capsys.readouterr()
    result = evaluate(str(cfg), str(random_checkpoint), auc_roc=True, save_dir=str(tmp_path / "eval"))
    assert "Auc_roc:" in capsys.readouterr().out and 0 <= result["miou"] <= 1
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))  # report.write_metrics
    assert saved["miou"] == pytest.approx(result["miou"]) and len(saved["class_dice"]) == len(result["class_dice"])


def test_legacy_flag_helpers():
    assert [str2bool(v) for v in ("True", "false", "1", "no")] == [True, False, True, False]
    assert parse_custom_color([255, 0, 0, 0, 255, 0]) == [(255, 0, 0), (0, 255, 0)]
    with pytest.raises(ValueError, match="0..255"):
        parse_custom_color([256, 0, 0])
    assert legacy_output_op("argmax", without_argmax=True) == "none"
    assert legacy_output_op("argmax", with_softmax=True) == "softmax"
    assert legacy_output_op("argmax") == "argmax"
    assert export_input_size([1, 3, 512, 1024], 3) == (512, 1024) and export_input_size([64, 96], 4) == (64, 96)
    with pytest.raises(ValueError, match="takes 4 band"):
        export_input_size([1, 3, 64, 64], 4)


@pytest.mark.slow
def test_article_command_trains_from_the_project_root(tiny_data, tmp_path):
    """``python train.py --config segformerb3.yml --fp16`` with data where the config expects it (B3)."""
    (tmp_path / "data").mkdir()
    os.symlink(tiny_data, tmp_path / "data" / "rs_parcels")
    run = _run(str(REPO / "train.py"), "--config", "segformerb3.yml", "--fp16", "--iters", "2", "--batch_size", "2",
               "--log_iters", "1", "--save_interval", "2", "--save_dir", "out", "--pretrained", "none",  # offline
               cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "fp16 (automatic mixed precision) needs a GPU" in run.stderr
    assert "learning rate (1500-iteration LinearWarmup, then PolynomialDecay power 1, end_lr 0)" in run.stderr
    assert "lr: 0.000001" in run.stdout and (tmp_path / "out" / "iter_2" / "model.pdparams").is_file()


def test_test_time_augmentation_flag_in_both_spellings():
    from paddle_segformer.cli import predict, val

    for module in (predict, val):  # one option (InferenceOptions.aug_eval) whatever the spelling
        dest = "aug_eval"
        for flag in ("--aug_pred", "--aug_eval"):
            args = module.build_parser().parse_args(["--config", "c.yml", "--model_path", "m", flag]
                                                    + (["--image_path", "x"] if module is predict else []))
            assert getattr(args, dest) is True, (module.__name__, flag)
        assert getattr(module.build_parser().parse_args(
            ["--config", "c.yml", "--model_path", "m"] + (["--image_path", "x"] if module is predict else [])),
            dest) is False
