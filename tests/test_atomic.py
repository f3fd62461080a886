"""Atomic writes honour the umask and are durable: the file is fsync'ed before the rename, the folder after."""
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from paddle_segformer.io import atomic
from paddle_segformer.io.atomic import atomic_path, atomic_write_bytes, publish_dir, temp_dir_beside


@pytest.fixture
def umask():
    """Set the process umask for one test, restore it after."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750),
                                                       (0o002, 0o664, 0o775)])
def test_outputs_honour_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    """mkstemp / mkdtemp made every output 0600 / 0700 whatever the umask (nobody else could read results)."""
    umask(mask)
    atomic_write_bytes(tmp_path / "a.png", b"x")
    assert _mode(tmp_path / "a.png") == file_mode
    with atomic_path(tmp_path / "b.json") as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("{}")
    assert _mode(tmp_path / "b.json") == file_mode
    folder = temp_dir_beside(tmp_path / "artifact")
    assert _mode(folder) == dir_mode


def test_label_geotiff_honours_the_umask(tmp_path, umask):
    from paddle_segformer.io.raster import RasterMeta, write_label_raster

    umask(0o022)
    write_label_raster(tmp_path / "l.tif", np.zeros((8, 8), np.uint8), RasterMeta(8, 8, 1, "uint8"))
    assert _mode(tmp_path / "l.tif") == 0o644


def _record(monkeypatch):
    """Log fsync (by the path of the descriptor) and rename calls, in order."""
    events = []
    fsync, replace = os.fsync, os.replace

    def logged_fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def logged_replace(src, dst):
        events.append(("replace", str(dst)))
        replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", logged_fsync)
    monkeypatch.setattr(atomic.os, "replace", logged_replace)
    return events


def test_a_write_is_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    """Before: a rename with no fsync, so a power cut could leave an empty file under the final name."""
    events = _record(monkeypatch)
    target = tmp_path / "label.png"
    atomic_write_bytes(target, b"data")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert Path(events[0][1]).name.startswith(".label.png.") and events[0][1].endswith(".part")  # the data
    assert events[1][1] == str(target) and events[2][1] == str(tmp_path)  # then the folder entry


def test_a_folder_is_published_durably(tmp_path, monkeypatch):
    tmp = temp_dir_beside(tmp_path / "paddle")
    (Path(tmp) / "model.json").write_bytes(b"{}")
    events = _record(monkeypatch)
    publish_dir(tmp, tmp_path / "paddle")
    kinds = [kind for kind, _ in events]
    assert kinds.index("replace") > kinds.index("fsync")
    assert any(path.endswith("model.json") for kind, path in events[:kinds.index("replace")])
    assert events[-1] == ("fsync", str(tmp_path))
    assert (tmp_path / "paddle" / "model.json").read_bytes() == b"{}"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            handle.write("half")
            raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
