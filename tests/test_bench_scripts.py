"""The benchmark scripts run end to end at a tiny size and print their tables (numbers not judged)."""
import subprocess
import sys

import pytest

from paddle_segformer.inference.choice import AUTO_ORDER
from paddle_segformer.machine import cpu_info

from .conftest import REPO, env_with_threads


def _run(*args):
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                         env=env_with_threads(2), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_bench_inference_prints_a_table_with_agreement():
    out = _run("scripts/bench_inference.py", "--variants", "b0", "--sizes", "64", "--reps", "1", "--settle", "0",
               "--rows", "ours-dynamic", "openvino", "ort-plain", "--classes", "5")
    assert "GFLOP/s" in out and "CPU:" in out
    assert "| **openvino** (default)" in out and AUTO_ORDER[0] == "openvino" and "| ort-plain" in out
    assert out.count("100.00 %") == 3  # every row shares our weights and gives our labels
    assert "target: default" in out
    assert "each after 1 untimed run(s) of its row" in out  # --rewarm's default: a run in a stream of images


@pytest.mark.slow
def test_bench_inference_int8_row():
    out = _run("scripts/bench_inference.py", "--variants", "b0", "--sizes", "64", "--reps", "1", "--settle", "0",
               "--rows", "ours-dynamic", "openvino", "openvino-int8", "openvino-e2e", "openvino-int8-e2e",
               "--classes", "5")
    rows = {line.split(":")[0][2:]: line for line in out.splitlines() if line.startswith("| openvino")}
    assert rows["openvino-int8"].count(" % |") == 2, rows  # labels compared with ours dynamic and with float32
    assert rows["openvino-int8-e2e"].endswith(" % |") and "n/a (image file in)" in rows["openvino-int8-e2e"]
    assert "target: INT8 end to end >= 1.5x faster" in out
    assert f"flags: {' '.join(cpu_info()['flags']) or 'none of interest'};" in out  # the CPU's SIMD flags


@pytest.mark.slow
def test_bench_inference_isa_cap_reaches_the_rows():
    out = _run("scripts/bench_inference.py", "--variants", "b0", "--sizes", "64", "--reps", "1", "--settle", "0",
               "--rows", "openvino", "openvino-int8", "--classes", "5", "--isa", "avx2", "--rewarm", "0")
    assert "oneDNN instruction set capped at AVX2 in every row" in out
    assert "each after 0 untimed run(s) of its row" in out
    assert "| openvino-int8" in out


@pytest.mark.slow
def test_profile_openvino_prints_the_layers_by_type():
    out = _run("scripts/profile_openvino.py", "--size", "64", "--reps", "1", "--classes", "5")
    sections = out.split("### MiT-B0 64^2 ")[1:]
    assert [s.split(":")[0] for s in sections] == ["fp32", "int8"]
    for section in sections:
        assert "label kernel" in section.splitlines()[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and line.endswith(" % |")]
        # layer names differ with the CPU (OpenVINO turns MatMul into FullyConnected or a Subgraph); convs stay
        assert len(rows) >= 3 and any(row.startswith("| Convolution |") for row in rows), section


@pytest.mark.slow
def test_bench_train_prints_a_table():
    out = _run("scripts/bench_train.py", "--size", "64", "--batch", "1", "--reps", "1", "--settle", "0",
               "--classes", "5", "--rows", "ours", "paddleseg")
    assert "| ours:" in out and "| paddleseg:" in out


@pytest.mark.slow
def test_bench_folder_prints_the_folder_and_model_only_rates():
    out = _run("scripts/bench_folder.py", "--size", "64", "--count", "4", "--classes", "5", "--rounds", "1")
    assert "| model only |" in out and "| folder |" in out and "| model only, in flight |" in out
    assert "target: folder rate" in out and "folder / model only (" in out and "folder / model only, in flight" in out


@pytest.mark.slow
def test_bench_folder_compares_int8_with_float32_round_by_round():
    out = _run("scripts/bench_folder.py", "--size", "64", "--count", "4", "--classes", "5", "--rounds", "1",
               "--precisions", "fp32", "int8")
    assert "| fp32: folder |" in out and "| int8: folder |" in out and "| int8: model only |" in out
    assert "fp32 / int8; 1 folder rounds" in out and "int8: folder / model only (" in out
    assert "INT8 folder / f32 folder (median over rounds, same round): " in out
    assert "target: INT8 end to end >= 1.5x faster than f32 end to end" in out


@pytest.mark.slow
def test_bench_data_check_prints_a_table():
    out = _run("scripts/bench_data_check.py", "--count", "300")
    assert "| cold, 1 process (reference) |" in out and "| cold, all cores (train.py) |" in out
    assert "| unchanged list (remembered) |" in out and "target: the competition's list" in out


@pytest.mark.slow
def test_bench_memory_prints_measured_and_refused_sizes():
    out = _run("scripts/bench_memory.py", "--variants", "b0", "--sizes", "96", "--classes", "5",
               "--max_memory", "300M")
    assert "CPU:" in out and "| variant | attention | side | peak MiB | estimate MiB |" in out
    assert "| B0 | efficient | 96 |" in out and "| B0 | full | 96 |" in out and "failed" not in out
    assert out.count("refused, not run") == 2  # the first size over the budget, per attention


def test_bench_image_check_prints_the_check_beside_the_decode():
    out = _run("scripts/bench_image_check.py", "--sizes", "64")
    assert "| 64^2 .jpg |" in out and "| 64^2 .png |" in out and "check / decode" in out


def test_bench_vectorize_prints_ours_beside_the_reference(tmp_path):
    out = _run("scripts/bench_vectorize.py", "--sizes", "300", "--out_dir", str(tmp_path))
    assert "CPU:" in out and "| rasterio `shapes` on the whole array + shapely (reference) | 300^2 |" in out
    assert "| paddle_segformer.vector, strips of 512 rows | 300^2 |" in out
    assert "reference's polygon count at every size: yes" in out


@pytest.mark.slow
def test_bench_scale_prints_both_rows_and_the_projection():
    out = _run("scripts/bench_scale.py", "--count", "2", "--size", "64")
    assert "| 1 process x 2 threads |" in out and "| 2 processes x 1 thread |" in out
    assert "projection: N such nodes" in out
    scene = _run("scripts/bench_scale.py", "--scene", "--size", "128", "--tile", "64")
    assert "one GeoTIFF scene of 128^2 in 64 px tiles" in scene and "| 2 processes x 1 thread | " in scene
    assert "one scene over 2 processes (split by rows)" in scene and "| 1 process x 1 thread |" in scene
