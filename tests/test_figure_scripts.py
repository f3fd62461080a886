"""The scripts that make the README's pictures run end to end at a tiny size (what they show is not judged
here: the numbers are in the README with the command that made them)."""
import json
import subprocess
import sys

import pytest

from .conftest import REPO, env_with_threads


def _run(*args):
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                         env=env_with_threads(2), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stderr


def test_polygon_figure_predicts_a_scene_and_draws_its_polygons(tiny_data, tiny_config, random_checkpoint,
                                                                 tmp_path):
    figure = tmp_path / "polygons.png"
    log = _run("scripts/polygon_figure.py", "--model_path", str(random_checkpoint), "--config", str(tiny_config),
               "--data", str(tiny_data), "--out", str(tmp_path / "out"), "--figure", str(figure),
               "--rows", "2", "--cols", "2")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = json.loads((tmp_path / "out" / "parcels.classes.json").read_text())
    assert table["valid_area"] == pytest.approx((2 * 64 * 0.5) ** 2)  # 2x2 tiles of 64 px at 0.5 m
    assert "polygons:" in log


@pytest.mark.slow
def test_pretrain_evidence_trains_three_models_and_plots_two_curves(tmp_path):
    plot = tmp_path / "curves.png"
    _run("scripts/pretrain_evidence.py", "--out", str(tmp_path / "out"), "--pretrain_iters", "2", "--iters", "4",
         "--eval_every", "2", "--plot", str(plot))
    result = json.loads((tmp_path / "out" / "pretrain_evidence.json").read_text())
    assert [len(curve) for curve in result["curves"].values()] == [2, 2]
    assert plot.read_bytes()[:4] == b"\x89PNG"
