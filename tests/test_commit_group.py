"""Outputs made durable in groups: invisible until committed, whole after, nothing left on failure, and a
folder prediction flushing the disk less than once per image (it was seven times)."""
import os
import stat
import threading
import time

import numpy as np
import paddle
import pytest
from paddleseg.transforms import Normalize

from paddle_segformer.inference.folder import predict_folder
from paddle_segformer.inference.grouped_writer import GroupedWriter
from paddle_segformer.inference.predictor import Predictor
from paddle_segformer.inference.resume import Manifest
from paddle_segformer.inference.shards import FolderJob
from paddle_segformer.io import commit_group
from paddle_segformer.io.commit_group import CommitGroup
from paddle_segformer.io.image import read_label, write_jpg
from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer


def _leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith(".part")]


def test_staged_files_appear_whole_on_commit_with_the_umask_mode(tmp_path):
    (tmp_path / "b.png").write_bytes(b"old")
    group = CommitGroup()
    group.write_bytes(tmp_path / "a.png", b"A" * 1000)
    group.write_bytes(tmp_path / "sub" / "b.png", b"B")
    group.write_bytes(tmp_path / "b.png", b"new")
    assert not (tmp_path / "a.png").exists() and (tmp_path / "b.png").read_bytes() == b"old"
    group.commit()
    assert (tmp_path / "a.png").read_bytes() == b"A" * 1000 and (tmp_path / "sub" / "b.png").read_bytes() == b"B"
    assert (tmp_path / "b.png").read_bytes() == b"new" and len(group) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o666 & ~umask
    assert not _leftovers(tmp_path) and not _leftovers(tmp_path / "sub")


def test_a_failed_flush_publishes_nothing_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(b"old")
    group = CommitGroup()
    group.write_bytes(tmp_path / "a.png", b"new")
    group.write_bytes(tmp_path / "c.png", b"C")

    def broken(folders):
        raise OSError(5, f"cannot flush {folders[0]} to disk: Input/output error")

    monkeypatch.setattr(commit_group, "sync_file_systems", broken)
    with pytest.raises(OSError, match="cannot flush"):
        group.commit()
    assert (tmp_path / "a.png").read_bytes() == b"old" and not (tmp_path / "c.png").exists()
    assert not _leftovers(tmp_path)


def test_without_syncfs_every_file_and_folder_is_fsynced(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(commit_group, "_SYNCFS", None)
    monkeypatch.setattr(commit_group, "fsync_file", lambda path: synced.append(("file", path)))
    monkeypatch.setattr(commit_group, "fsync_dir", lambda path: synced.append(("dir", path)))
    group = CommitGroup()
    group.write_bytes(tmp_path / "a.png", b"A")
    group.write_bytes(tmp_path / "b.png", b"B")
    group.commit()
    assert [kind for kind, _ in synced] == ["file", "file", "dir", "dir"]  # data, then the renames
    assert (tmp_path / "b.png").read_bytes() == b"B"


def test_writer_commits_in_groups_and_resolves_futures_after_the_commit(tmp_path, monkeypatch):
    commits, real = [], CommitGroup.commit

    def counted(group):
        commits.append(len(group))
        real(group)

    monkeypatch.setattr(CommitGroup, "commit", counted)
    seen_at_resolution = []

    def write(i):
        def stage(group):
            group.write_bytes(tmp_path / f"{i}.png", bytes([i]))
            return tmp_path / f"{i}.png"
        return stage

    with GroupedWriter(images=8, seconds=60) as writer:
        futures = [writer.submit(write(i)) for i in range(20)]
        for future in futures[:16]:
            future.add_done_callback(lambda f: seen_at_resolution.append(f.result().is_file()))
    assert [f.result().read_bytes() for f in futures] == [bytes([i]) for i in range(20)]
    assert commits == [8, 8, 4] and all(seen_at_resolution)


def test_a_failed_write_loses_only_its_own_files(tmp_path):
    def good(group):
        group.write_bytes(tmp_path / "good.png", b"G")
        return "good"

    def bad(group):
        group.write_bytes(tmp_path / "bad.png", b"half")
        raise ValueError("encoding failed")

    with GroupedWriter() as writer:
        first, second, third = writer.submit(good), writer.submit(bad), writer.submit(good)
    with pytest.raises(ValueError, match="encoding failed"):
        second.result()
    assert first.result() == third.result() == "good" and (tmp_path / "good.png").read_bytes() == b"G"
    assert not (tmp_path / "bad.png").exists() and not _leftovers(tmp_path)


def test_a_lone_image_is_committed_after_the_waiting_time(tmp_path):
    done = threading.Event()
    with GroupedWriter(images=100, seconds=0.05) as writer:
        future = writer.submit(lambda group: group.write_bytes(tmp_path / "a.png", b"A"))
        future.add_done_callback(lambda f: done.set())
        assert done.wait(5.0), "the write waited for a group that never fills"
        assert (tmp_path / "a.png").read_bytes() == b"A"


def test_a_folder_prediction_flushes_the_disk_less_than_once_per_image(tmp_path, monkeypatch):
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    images.mkdir()
    for i in range(16):
        write_jpg(images / f"t{i:02d}.jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    flushes = []
    real_fsync, real_syncfs = os.fsync, commit_group._SYNCFS
    monkeypatch.setattr(os, "fsync", lambda fd: (flushes.append("fsync"), real_fsync(fd))[1])
    if real_syncfs is not None:
        monkeypatch.setattr(commit_group, "_SYNCFS", lambda fd: (flushes.append("syncfs"), real_syncfs(fd))[1])
    paddle.seed(0)
    predictor = Predictor(SegFormer(4, mit("b0")), [Normalize()])
    start = time.time()
    summary = predict_folder(predictor, str(images), str(tmp_path / "out"), 4, job=FolderJob(key="k"))
    assert len(summary.written) == 16 and not summary.failed and summary.seconds <= time.time() - start + 1
    assert len(flushes) < 16, f"{len(flushes)} disk flushes for 16 images"
    for i in range(16):  # every output published whole and recorded as done
        assert read_label(tmp_path / "out" / "label" / f"t{i:02d}.png").shape == (32, 32)
        assert Manifest(str(tmp_path / "out"), "k").done(f"t{i:02d}.jpg")
    assert not any(name.endswith(".part") for _, _, names in os.walk(tmp_path / "out") for name in names)
