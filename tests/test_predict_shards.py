"""Prediction split across processes (issue #23): the split, the resume manifest, the merged report, and
predict.py as rank 0 / rank 1 of two (in this process, through the launcher's environment variables) and
under ``paddle.distributed.launch`` itself (about 12 s)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_segformer.cli.predict import predict
from paddle_segformer.data.synthetic import write_dataset
from paddle_segformer.inference.job_report import RankReportMissing, gather, write_rank_report
from paddle_segformer.inference.options import JobOptions
from paddle_segformer.inference.resume import Manifest
from paddle_segformer.inference.shards import Shard, split_by_cost
from paddle_segformer.io.image import read_label

from .conftest import REPO, env_with_threads


@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_split_deals_every_file_exactly_once_and_is_deterministic(world):
    costs = list(np.random.default_rng(world).integers(1, 10_000, size=50))
    shares = split_by_cost(costs, world)
    assert sorted(i for share in shares for i in share) == list(range(50))
    assert shares == split_by_cost(costs, world) and all(share == sorted(share) for share in shares)


def test_split_spreads_the_big_scenes_and_balances_cost():
    costs = [400, 390, 380, 370] + [10] * 40  # four big scenes, many small tiles
    shares = split_by_cost(costs, 2)
    assert [sum(1 for i in share if i < 4) for share in shares] == [2, 2]  # not both big ones on one rank
    loads = [sum(costs[i] for i in share) for share in shares]
    assert abs(loads[0] - loads[1]) <= max(costs)  # greedy largest-first: within one file of balanced
    assert [len(s) for s in split_by_cost([1] * 9, 3)] == [3, 3, 3]  # equal tiles: dealt evenly


def test_shard_from_the_launchers_environment():
    assert Shard.from_env({}) == Shard(0, 1, "")
    shard = Shard.from_env({"PADDLE_TRAINER_ID": "1", "PADDLE_TRAINERS_NUM": "2", "PADDLE_MASTER": "h:1"})
    assert (shard.rank, shard.world, shard.run) == (1, 2, "h:1")
    with pytest.raises(ValueError, match="rank 2 is outside 0..1"):
        Shard.from_env({"PADDLE_TRAINER_ID": "2", "PADDLE_TRAINERS_NUM": "2"})


def test_manifest_counts_a_file_done_only_with_the_same_key_and_unchanged_outputs(tmp_path):
    out = tmp_path / "label" / "a.png"
    out.parent.mkdir()
    out.write_bytes(b"one")
    Manifest(str(tmp_path), "k1", rank=1).record("a.jpg", [out])
    assert Manifest(str(tmp_path), "k1", rank=0).done("a.jpg")  # any rank's journal is read
    assert not Manifest(str(tmp_path), "k2").done("a.jpg")  # other weights or options
    assert not Manifest(str(tmp_path), "k1").done("b.jpg")
    out.write_bytes(b"rewritten by another run")
    assert not Manifest(str(tmp_path), "k1").done("a.jpg")  # the recorded output no longer stands


def test_manifest_ignores_a_line_cut_by_a_kill_and_appends_after_it(tmp_path):
    out = tmp_path / "a.png"
    out.write_bytes(b"x")
    journal = tmp_path / ".predict_manifest.rank0.jsonl"
    manifest = Manifest(str(tmp_path), "k")
    manifest.record("a.jpg", [out])
    whole = journal.read_text()
    journal.write_text(whole + whole[:-10])  # a second line cut mid-way
    manifest = Manifest(str(tmp_path), "k")
    assert manifest.done("a.jpg")
    (tmp_path / "b.png").write_bytes(b"y")
    manifest.record("b.jpg", [tmp_path / "b.png"])
    assert Manifest(str(tmp_path), "k").done("b.jpg")


def test_gather_names_the_rank_that_did_not_report(tmp_path):
    shard = Shard(0, 3, "run-a")
    write_rank_report(str(tmp_path), shard, {"a.jpg": {"status": "written", "seconds": 1.0, "error": None}}, 2.0)
    write_rank_report(str(tmp_path), Shard(1, 3, "run-b"), {}, 1.0)  # another launch's: not this run's
    with pytest.raises(RankReportMissing, match=r"rank\(s\) 1, 2 of 3 did not report .*rank1.json"):
        gather(str(tmp_path), shard, timeout=0.0)
    write_rank_report(str(tmp_path), Shard(1, 3, "run-a"), {"b.jpg": {"status": "failed", "seconds": 0.5,
                                                                       "error": "broken"}}, 3.0)
    write_rank_report(str(tmp_path), Shard(2, 3, "run-a"), {}, 0.1)
    merged = gather(str(tmp_path), shard, timeout=0.0)
    assert (merged.count("written"), merged.count("failed"), merged.seconds) == (1, 1, 3.0)


@pytest.fixture(scope="module")
def folder(tiny_data, tmp_path_factory):
    """Nine synthetic tiles and one broken file."""
    root = tmp_path_factory.mktemp("shard_images")
    for path in sorted((tiny_data / "img_train").glob("*.jpg"))[:9]:
        shutil.copy(path, root / path.name)
    (root / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return root


def _labels(out):
    return {p.name: read_label(str(p)) for p in sorted((out / "label").glob("*.png"))}


def _as_rank(monkeypatch, rank, world=2):
    monkeypatch.setenv("PADDLE_TRAINER_ID", str(rank))
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", str(world))
    monkeypatch.setenv("PADDLE_MASTER", "127.0.0.1:1")


def test_two_ranks_split_the_folder_and_rank_0_merges_one_report(tiny_config, random_checkpoint, folder, tmp_path,
                                                                  monkeypatch, registered):
    single = predict(str(tiny_config), str(random_checkpoint), str(folder), str(tmp_path / "one"))
    out = tmp_path / "two"
    _as_rank(monkeypatch, 1)
    rank1 = predict(str(tiny_config), str(random_checkpoint), str(folder), str(out))
    _as_rank(monkeypatch, 0)
    rank0 = predict(str(tiny_config), str(random_checkpoint), str(folder), str(out), job=JobOptions(report_timeout=5))
    assert set(rank0.files).isdisjoint(rank1.files) and len(rank0.files) + len(rank1.files) == 10
    assert abs(len(rank0.files) - len(rank1.files)) <= 1
    report = json.loads((out / "predict_report.json").read_text())
    assert report["counts"] == {"written": 9, "failed": 1, "skipped": 0} == {
        s: single.job.count(s) for s in ("written", "failed", "skipped")}
    assert report["files"]["zz_broken.jpg"]["status"] == "failed" and report["files"]["zz_broken.jpg"]["error"]
    assert not list(out.glob(".predict_report.rank*.json"))  # merged, then removed
    one, two = _labels(tmp_path / "one"), _labels(out)
    assert one.keys() == two.keys() and len(one) == 9
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])


def test_rerun_skips_what_is_done_and_other_weights_redo_everything(tiny_config, random_checkpoint, folder,
                                                                    tmp_path, registered):
    out = str(tmp_path / "pred")
    first = predict(str(tiny_config), str(random_checkpoint), str(folder), out)
    assert len(first.written) == 9 and not first.skipped
    again = predict(str(tiny_config), str(random_checkpoint), str(folder), out)
    assert len(again.skipped) == 9 and not again.written and len(again.failed) == 1  # a failure is retried
    assert json.loads((tmp_path / "pred" / "predict_report.json").read_text())["counts"]["skipped"] == 9
    forced = predict(str(tiny_config), str(random_checkpoint), str(folder), out, job=JobOptions(overwrite=True))
    assert len(forced.written) == 9 and not forced.skipped
    state = paddle.load(str(random_checkpoint))
    other = tmp_path / "other.pdparams"
    paddle.save({k: v * 1.5 if "head" in k or "linear_pred" in k else v for k, v in state.items()}, str(other))
    redone = predict(str(tiny_config), str(other), str(folder), out)
    assert len(redone.written) == 9 and not redone.skipped  # never kept stale


def test_rank_0_says_which_rank_did_not_report(tiny_config, random_checkpoint, folder, tmp_path, monkeypatch,
                                               registered):
    _as_rank(monkeypatch, 0)
    with pytest.raises(RankReportMissing, match=r"rank\(s\) 1 of 2 did not report"):
        predict(str(tiny_config), str(random_checkpoint), str(folder), str(tmp_path / "p"),
                job=JobOptions(report_timeout=0.5))
    assert list((tmp_path / "p" / "label").glob("*.png"))  # its own finished outputs are kept


def test_predict_py_under_the_launcher(tiny_config, random_checkpoint, folder, tmp_path):
    out = tmp_path / "pred"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), str(REPO / "predict.py"), "--config", str(tiny_config), "--model_path",
           str(random_checkpoint), "--image_path", str(folder), "--save_dir", str(out), "--backend", "paddle"]
    run = subprocess.run(cmd, cwd=tmp_path, env=env_with_threads(1), capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text(errors="replace") for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert run.returncode != 0, "a failed file makes the job's status 3"  # zz_broken.jpg
    assert "all 2 process(es): predicted 9 image(s), 1 failed, 0 skipped" in logs, logs[-3000:]
    assert logs.count("image(s), ") >= 3  # each rank's own line, and the merged one
    report = json.loads((out / "predict_report.json").read_text())
    assert report["processes"] == 2 and report["counts"]["written"] == 9
    assert len(list((out / "label").glob("*.png"))) == 9


@pytest.mark.slow
def test_killed_run_resumes_skipping_finished_files_with_a_clean_runs_labels(tiny_config, random_checkpoint,
                                                                            tiny_data, tmp_path):
    """SIGKILL once a few files are journalled; the re-run skips those and writes the rest, equal to a clean run."""
    count = 120
    write_dataset(str(tmp_path / "tiles"), n_train=count, n_test=0, size=64, seed=7)
    images, out = tmp_path / "tiles" / "img_train", tmp_path / "pred"
    cmd = [sys.executable, str(REPO / "predict.py"), "--config", str(tiny_config), "--model_path",
           str(random_checkpoint), "--image_path", str(images), "--backend", "paddle"]
    proc = subprocess.Popen(cmd + ["--save_dir", str(out)], cwd=tmp_path, env=env_with_threads(1),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal, deadline = out / ".predict_manifest.rank0.jsonl", time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = journal.read_text().count("\n")
    assert 3 <= finished < count, "the kill should land mid-folder"
    rerun = subprocess.run(cmd + ["--save_dir", str(out)], cwd=tmp_path, env=env_with_threads(1),
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"skipping {finished} file(s) already predicted" in rerun.stderr
    assert f"predicted {count - finished} image(s), 0 failed" in rerun.stderr
    clean = subprocess.run(cmd + ["--save_dir", str(tmp_path / "clean")], cwd=tmp_path, env=env_with_threads(1),
                           capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-3000:]
    resumed, whole = _labels(out), _labels(tmp_path / "clean")
    assert resumed.keys() == whole.keys() and len(whole) == count
    for name in whole:
        np.testing.assert_array_equal(resumed[name], whole[name])


def _pid_of_rank(rank: int, script: str):
    """The pid of the launcher's worker of ``rank`` running ``script`` (read from /proc), or None."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and script in (proc / "cmdline").read_bytes().decode(errors="replace") and \
                    f"PADDLE_TRAINER_ID={rank}\0".encode() in (proc / "environ").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    return None


@pytest.mark.slow
def test_a_rank_killed_under_the_launcher_fails_the_job_keeps_outputs_and_the_rerun_finishes(
        tiny_config, random_checkpoint, tmp_path):
    """The launcher ends the job when a rank dies (its own message names the rank); every output finished
    stays, and the same command then does only the rest."""
    count = 400
    write_dataset(str(tmp_path / "tiles"), n_train=count, n_test=0, size=64, seed=9)
    out = tmp_path / "pred"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), str(REPO / "predict.py"), "--config", str(tiny_config), "--model_path",
           str(random_checkpoint), "--image_path", str(tmp_path / "tiles" / "img_train"), "--save_dir", str(out),
           "--backend", "paddle"]
    launcher = subprocess.Popen(cmd, cwd=tmp_path, env=env_with_threads(1), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    journal, deadline = out / ".predict_manifest.rank1.jsonl", time.monotonic() + 300
    while time.monotonic() < deadline and launcher.poll() is None:
        if journal.is_file() and journal.read_text().count("\n") >= 5:
            break
        time.sleep(0.05)
    pid = _pid_of_rank(1, "predict.py")
    assert pid is not None, "rank 1 ended before it could be killed"
    os.kill(pid, signal.SIGKILL)
    said = launcher.communicate(timeout=300)[0]
    assert launcher.returncode != 0 and "rank 1 status failed" in said and "code -9" in said  # the launcher's words
    finished = sum(p.read_text().count("\n") for p in out.glob(".predict_manifest.rank*.jsonl"))
    assert 5 <= finished < count and len(_labels(out)) >= finished  # finished outputs kept, all decodable
    rerun = subprocess.run(cmd, cwd=tmp_path, env=env_with_threads(1), capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text(errors="replace") for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert rerun.returncode == 0, logs[-3000:]
    assert f"predicted {count - finished} image(s), 0 failed, {finished} skipped" in logs
    assert len(_labels(out)) == count


@pytest.fixture(scope="module")
def scenes(tmp_path_factory, registered):
    """Four 4-band GeoTIFF scenes (96^2, nodata 0), their config and random weights."""
    from paddle_segformer.integration.config import load_config

    from .test_geotiff import _config, _dataset

    tmp = tmp_path_factory.mktemp("shard_scenes")
    root = _dataset(tmp, 4, "uint16", nodata=0, n=4, size=96)
    cfg = _config(tmp, root, 4)
    _, builder = load_config(str(cfg))
    paddle.seed(0)
    paddle.save(builder.model.state_dict(), str(tmp / "m.pdparams"))
    return root / "img", cfg, tmp / "m.pdparams"


def _polygons(path):
    """The features of a polygons file as sorted (source, class, area, WKB) rows."""
    from pyogrio.raw import read

    meta, _, geometry, fields = read(path)
    names = list(meta["fields"])
    return sorted(zip(fields[names.index("source")], fields[names.index("class_id")],
                      np.round(fields[names.index("area")], 6), geometry))


def _vector_args(scenes, save_dir):
    images, cfg, weights = scenes
    return ["--config", str(cfg), "--model_path", str(weights), "--image_path", str(images), "--save_dir",
            str(save_dir), "--backend", "paddle", "--tile", "64", "--overlap", "16", "--vector",
            str(save_dir / "parcels.gpkg"), "--min_area", "200"]


def test_vector_of_two_ranks_equals_one_process(scenes, tmp_path, monkeypatch):
    """--vector under two processes: rank 0 makes the polygons once, after the merge, from both ranks' GeoTIFFs,
    equal to one process's; rank 1 writes none."""
    from paddle_segformer.cli.predict import run

    run(_vector_args(scenes, tmp_path / "one"))
    out = tmp_path / "two"
    _as_rank(monkeypatch, 1)
    rank1 = run(_vector_args(scenes, out))
    assert not (out / "parcels.gpkg").exists() and 0 < len(rank1.written) < 4  # its share only, no polygons
    _as_rank(monkeypatch, 0)
    run(_vector_args(scenes, out) + ["--report_timeout", "5"])
    one, two = _polygons(tmp_path / "one" / "parcels.gpkg"), _polygons(out / "parcels.gpkg")
    assert len(one) > 4 and {row[0] for row in two} == {"T0000", "T0001", "T0002", "T0003"}
    assert one == two
    assert json.loads((out / "parcels.classes.json").read_text()) == \
        json.loads((tmp_path / "one" / "parcels.classes.json").read_text())


def test_vector_when_a_rank_did_not_report_keeps_the_finished_scenes_and_names_the_missing(scenes, tmp_path,
                                                                                           monkeypatch, caplog):
    from paddle_segformer.cli.predict import run

    out = tmp_path / "p"
    _as_rank(monkeypatch, 0)
    with pytest.raises(RankReportMissing, match=r"rank\(s\) 1 of 2 did not report"):
        run(_vector_args(scenes, out) + ["--report_timeout", "0.5"])
    mine = sorted(p.stem for p in (out / "geotiff").glob("*.tif"))
    assert 0 < len(mine) < 4
    assert sorted({row[0] for row in _polygons(out / "parcels.gpkg")}) == mine  # what was finished
    missing = sorted({"T0000", "T0001", "T0002", "T0003"} - set(mine))
    said = [r.getMessage() for r in caplog.records if "not in the polygons" in r.getMessage()]
    assert said and all(f"{name}.tif" in said[0] for name in missing) and f"{len(missing)} raster" in said[0]


def test_a_rank_run_alone_by_hand_is_bounded_and_the_job_completes_later(tiny_config, random_checkpoint, folder,
                                                                        tmp_path, monkeypatch, capsys):
    """No launcher (PADDLE_TRAINER_ID / PADDLE_TRAINERS_NUM by hand), the other rank absent: rank 0 ends with one
    ``error:`` line naming rank 1 after --report_timeout, its outputs kept; rank 1 alone predicts its share
    and reports without waiting for anyone; rank 0 run again then merges both."""
    from paddle_segformer.cli.predict import main
    from paddle_segformer.cli.runtime import run_cli

    out = tmp_path / "p"
    args = ["--config", str(tiny_config), "--model_path", str(random_checkpoint), "--image_path", str(folder),
            "--save_dir", str(out), "--backend", "paddle", "--report_timeout", "1"]
    monkeypatch.delenv("PADDLE_MASTER", raising=False)
    for rank in (0, 1):
        monkeypatch.setenv("PADDLE_TRAINER_ID", str(rank))
        monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
        began = time.monotonic()
        status = run_cli(main, args)
        assert time.monotonic() - began < 120
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        if rank == 0:
            assert status == 2 and len(errors) == 1 and "rank(s) 1 of 2 did not report within 1 s" in errors[0]
            assert len(_labels(out)) == 4  # its share: 4 tiles kept, and the broken file
        else:
            assert status == 0 and not errors and len(_labels(out)) == 9  # no wait for rank 0
    assert (out / ".predict_report.rank1.json").is_file()
    monkeypatch.setenv("PADDLE_TRAINER_ID", "0")
    assert run_cli(main, args) == 3  # the broken file
    report = json.loads((out / "predict_report.json").read_text())
    assert report["counts"] == {"written": 5, "failed": 1, "skipped": 4}  # rank 1's 5, rank 0's 4 done before


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_one_dies_rank_0_gives_up_after_the_report_timeout(tiny_config, random_checkpoint, tiny_data,
                                                                   tmp_path):
    """Two launchers as two nodes (``--master 127.0.0.1:P --nnodes 2``). Alone, the first starts no worker: the
    launcher waits for its peer without a timeout (Paddle's; README says so). Then the second node joins and
    dies (launcher and worker SIGKILLed): the first node's launcher does not notice, so our rank 0 ends the job
    with one ``error:`` line naming rank 1 after --report_timeout, its own outputs kept."""
    write_dataset(str(tmp_path / "tiles"), n_train=60, n_test=0, size=64, seed=3)
    out, master = tmp_path / "pred", f"127.0.0.1:{_free_port()}"

    def node(name):
        cmd = [sys.executable, "-m", "paddle.distributed.launch", "--master", master, "--nnodes", "2",
               "--nproc_per_node", "1", "--log_dir", str(tmp_path / name), str(REPO / "predict.py"), "--config",
               str(tiny_config), "--model_path", str(random_checkpoint), "--image_path",
               str(tmp_path / "tiles" / "img_train"), "--save_dir", str(out), "--backend", "paddle",
               "--report_timeout", "5"]
        return subprocess.Popen(cmd, cwd=tmp_path, env=env_with_threads(1), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    first, second = node("log1"), None
    try:
        time.sleep(8)
        assert first.poll() is None and not out.exists()  # waiting for the peer: no worker, nothing written
        second, deadline, pid = node("log2"), time.monotonic() + 120, None
        while pid is None and time.monotonic() < deadline:
            pid = _pid_of_rank(1, "predict.py")
            time.sleep(0.05)
        assert pid is not None, "rank 1 never started"
        os.kill(pid, signal.SIGKILL)  # the whole second node: its worker, then its launcher
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
        began = time.monotonic()
        assert first.wait(timeout=300) == 2  # our status for a missing rank, passed on by the launcher
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    log = (tmp_path / "log1" / "workerlog.0").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "rank(s) 1 of 2 did not report within 5 s" in errors[0], log[-2000:]
    assert time.monotonic() - began < 120
    finished = (out / ".predict_manifest.rank0.jsonl").read_text().count("\n")
    assert finished >= 25 and len(_labels(out)) == finished  # rank 0's half, kept


@pytest.mark.parametrize("tile,overlap", [(64, 16), (100, 30), (32, 0)])
def test_bands_of_rows_stitch_to_exactly_the_whole_image(tile, overlap):
    """predict_tiles(rows=band) for every band of 2, 3 or 7 equals the whole image's rows bit for bit (the
    logits here depend on the whole tile, as a network's do, so a tile cut at the band edge would differ)."""
    from paddle_segformer.inference.scene_bands import band_rows
    from paddle_segformer.inference.tiled import Tiling, predict_array, predict_tiles

    rng = np.random.default_rng(tile)
    height, width, weights = 301, 170, rng.standard_normal((5, 3)).astype(np.float32)

    def logits(x):
        out = np.einsum("kc,nchw->nkhw", weights, x)
        return out + out.mean(axis=(2, 3), keepdims=True)

    chw = rng.standard_normal((3, height, width)).astype(np.float32)
    tiling = Tiling(tile, overlap)
    whole = predict_array(logits, chw, 5, tiling)
    for world in (2, 3, 7):
        got = np.full((height, width), -1)

        def sink(rows, top):
            assert (got[top:top + rows.shape[0]] == -1).all()  # every row once
            got[top:top + rows.shape[0]] = rows

        for band in band_rows(height, world):
            predict_tiles(logits, lambda w: (chw[:, w[0]:w[0] + w[2], w[1]:w[1] + w[3]], None), height, width, 5,
                          sink, tiling, progress=False, rows=band)
        np.testing.assert_array_equal(got, whole)


@pytest.fixture(scope="module")
def one_scene(tmp_path_factory):
    """One 4-band GeoTIFF scene of 200^2 with nodata 0: fewer files than processes."""
    from paddle_segformer.data.synthetic_raster import write_raster_dataset

    root = tmp_path_factory.mktemp("one_scene")
    write_raster_dataset(str(root), n=1, size=200, bands=4, dtype="uint16", nodata=0, seed=5)
    return root / "img"


def _scene_args(scenes, images, save_dir):
    _, cfg, weights = scenes
    return ["--config", str(cfg), "--model_path", str(weights), "--image_path", str(images), "--save_dir",
            str(save_dir), "--backend", "paddle", "--tile", "64", "--overlap", "16"]


def _geotiff(path):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.nodata, src.transform, src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")


def test_one_scene_split_by_rows_over_two_ranks_equals_one_process(scenes, one_scene, tmp_path, monkeypatch):
    """Fewer scenes than processes: each rank predicts a band of rows (rank 1 first, then the owner, rank 0,
    which stitches); the label GeoTIFF equals one process's exactly and the parts are gone."""
    from paddle_segformer.cli.predict import run

    run(_scene_args(scenes, one_scene, tmp_path / "one"))
    out = tmp_path / "two"
    _as_rank(monkeypatch, 1)
    rank1 = run(_scene_args(scenes, one_scene, out))
    assert not rank1.files and len(list((out / "geotiff").glob(".T0000.tif.*.band1of2.npy"))) == 1
    _as_rank(monkeypatch, 0)
    rank0 = run(_scene_args(scenes, one_scene, out) + ["--report_timeout", "5"])
    assert rank0.job.count("written") == 1
    one, two = _geotiff(tmp_path / "one" / "geotiff" / "T0000.tif"), _geotiff(out / "geotiff" / "T0000.tif")
    assert (one[0] == 255).any() and len(np.unique(one[0])) > 2  # nodata and several classes: a real check
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1:] == two[1:] and two[3] == "COG"
    assert not list((out / "geotiff").glob(".*"))  # parts removed
    _as_rank(monkeypatch, 1)
    run(_scene_args(scenes, one_scene, out))
    assert not list((out / "geotiff").glob(".*"))  # done: rank 1 predicts no band again
    _as_rank(monkeypatch, 0)
    assert run(_scene_args(scenes, one_scene, out) + ["--report_timeout", "5"]).job.count("skipped") == 1


def test_a_missing_band_fails_the_scene_naming_it_and_the_rerun_reuses_the_finished_band(scenes, one_scene,
                                                                                        tmp_path, monkeypatch):
    from paddle_segformer.cli.predict import run

    out = tmp_path / "p"
    _as_rank(monkeypatch, 0)
    with pytest.raises(RankReportMissing):
        run(_scene_args(scenes, one_scene, out) + ["--report_timeout", "0.5"])
    report = json.loads((out / ".predict_report.rank0.json").read_text())["files"]["T0000.tif"]
    assert report["status"] == "failed" and "band(s) of rank(s) 1 (rows 100..200) of 2 did not come within 0.5 s" \
        in report["error"] and not (out / "geotiff" / "T0000.tif").exists()
    kept = list((out / "geotiff").glob(".T0000.tif.*.band0of2.npy"))
    assert len(kept) == 1  # rank 0's band stays for the re-run
    from paddle_segformer.inference import scene_bands

    predicted, band = [], scene_bands._predict_band
    monkeypatch.setattr(scene_bands, "_predict_band", lambda *a: predicted.append(a[6]) or band(*a))
    _as_rank(monkeypatch, 1)
    run(_scene_args(scenes, one_scene, out))
    _as_rank(monkeypatch, 0)
    again = run(_scene_args(scenes, one_scene, out) + ["--report_timeout", "5"])
    assert again.job.count("written") == 1 and (out / "geotiff" / "T0000.tif").is_file()
    assert predicted == [(100, 200)]  # rank 0's band was reused, not predicted again


def test_one_scene_with_vector_under_the_launcher_equals_one_process(scenes, one_scene, tmp_path):
    """``paddle.distributed.launch --nproc_per_node 2 predict.py ... --tile --vector`` on one scene: the two
    processes each predict a band of rows, rank 0 stitches the GeoTIFF and makes the polygons once; both
    equal one process's."""
    from paddle_segformer.cli.predict import run

    def args(save_dir):
        return _scene_args(scenes, one_scene, save_dir) + ["--vector", str(save_dir / "parcels.gpkg")]

    run(args(tmp_path / "one"))
    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), str(REPO / "predict.py")] + args(out)
    done = subprocess.run(cmd, cwd=tmp_path, env=env_with_threads(1), capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text(errors="replace") for p in sorted((tmp_path / "log").glob("workerlog.*")))
    assert done.returncode == 0, logs[-3000:]
    assert "T0000.tif: 2 bands of rows from 2 processes stitched" in logs
    assert logs.count("polygon(s) from 1 raster(s)") == 1  # once, by rank 0
    np.testing.assert_array_equal(_geotiff(out / "geotiff" / "T0000.tif")[0],
                                  _geotiff(tmp_path / "one" / "geotiff" / "T0000.tif")[0])
    assert _polygons(out / "parcels.gpkg") == _polygons(tmp_path / "one" / "parcels.gpkg")
