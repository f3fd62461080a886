"""Atomic, durable writes: a file appears under its final name complete or not at all, and once it is there
it survives a power cut. Used for every output and checkpoint. Imports no paddle.

A write goes to a hidden temporary file beside the target, created with the mode an ordinary ``open``
would give (0666 less the umask: 0644 under umask 022, as ``cv2.imwrite`` or ``paddle.save`` would make
it; ``tempfile.mkstemp`` would make it 0600, readable by its owner only); the file is fsync'ed, renamed
over the target, and the folder fsync'ed so that the rename itself is on disk. On any error the
temporary file is deleted and the target keeps what it held before.
"""
from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

PathLike = Union[str, os.PathLike]


_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.part$")  # what _create_beside names its entries


def temp_target(name: str) -> Optional[str]:
    """The name an entry called ``name`` is a temporary of (``.NAME.<8 hex>.part`` -> NAME), else None."""
    match = _TEMP_NAME.match(name)
    return match.group("name") if match else None


def _create_beside(path: PathLike, make: Callable[[Path], None]) -> str:
    """Make (with ``make``, which must fail on an existing name) a new hidden ``.NAME.*.part`` entry in
    ``path``'s folder (made if needed); return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            make(tmp)
        except FileExistsError:
            continue
        return str(tmp)
    raise FileExistsError(f"no free temporary name beside {path}")


def temp_beside(path: PathLike) -> str:
    """Create an empty hidden ``.NAME.*.part`` file beside ``path``; return its path. Its mode is what
    ``open(path, "w")`` would give (0666 less the umask: the kernel applies it)."""
    return _create_beside(path, lambda tmp: os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))


def fsync_file(path: PathLike) -> None:
    """Flush a file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: PathLike) -> None:
    """Flush a folder's entries (a rename into it) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # Windows: folders cannot be opened, and renames there need no folder fsync
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: PathLike, path: PathLike) -> None:
    """Make the finished temporary file ``tmp`` durable and rename it over ``path`` (durably too)."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success make it durable and rename it over ``path``
    (:func:`publish`), on error delete it, so nothing half-written ever stands under the final name."""
    tmp = temp_beside(path)
    try:
        yield tmp
        publish(tmp, path)
    except OSError as exc:  # a full disk, a read-only mount: say which output could not be written
        _discard(tmp)
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str) -> None:
    if os.path.exists(tmp):
        os.unlink(tmp)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then make it durable and rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def temp_dir_beside(path: PathLike) -> str:
    """Create an empty hidden folder beside ``path`` for building a folder atomically, with the mode
    ``mkdir`` gives (0777 less the umask; ``tempfile.mkdtemp`` would make it 0700)."""
    return _create_beside(path, lambda tmp: os.mkdir(tmp, 0o777))


def publish_dir(tmp: PathLike, path: PathLike) -> None:
    """Make every file under the finished folder ``tmp`` durable and rename it to ``path`` (which must not
    exist, or be an empty folder), then make the rename durable."""
    for folder, _, files in os.walk(tmp):
        for name in files:
            fsync_file(os.path.join(folder, name))
        fsync_dir(folder)
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


def atomic_save(obj: Any, path: str, **kwargs: Any) -> None:
    """``paddle.save`` to a temporary file in the same folder, then rename over ``path``."""
    import paddle  # here: this module imports no paddle otherwise

    with atomic_path(os.path.abspath(path)) as tmp:
        paddle.save(obj, tmp, **kwargs)
