"""Output folders checked before any work starts: a folder a command can write (or create), not a file, on
a disk with room for what the command will write. A command that would fail at its first write after
minutes of work fails at once instead, naming the path."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Union

PathLike = Union[str, os.PathLike]


class OutputPathError(ValueError):
    """An output folder that cannot be used; the message names it and why."""


def _existing_ancestor(path: Path) -> Path:
    current = path
    while not current.exists():
        if current.parent == current:
            break
        current = current.parent
    return current


def format_size(size: float) -> str:
    """Bytes -> '1.2 GiB' / '340 MiB' / '12 KiB' / '80 B'."""
    if size >= 2 ** 30:
        return f"{size / 2 ** 30:.1f} GiB"
    for unit, scale in (("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}"
    return f"{int(size)} B"


def check_output_dir(path: PathLike, needs_bytes: int = 0, flag: str = "--save_dir") -> Path:
    """Raise :class:`OutputPathError` unless ``path`` is a folder that can be written (or created: the
    nearest existing folder above it is writable) on a disk with at least ``needs_bytes`` free; returns
    ``path``. Nothing is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{flag} {path} is a file, not a folder: give a folder (it is made if missing)")
    base = _existing_ancestor(path.absolute())
    if not base.is_dir():
        raise OutputPathError(f"{flag} {path} cannot be made: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        what = "is not writable" if base == path.absolute() else f"cannot be made: {base} is not writable"
        raise OutputPathError(f"{flag} {path} {what}")
    free = shutil.disk_usage(base).free
    if needs_bytes > free:
        raise OutputPathError(f"{flag} {path}: {format_size(free)} free on its disk, about "
                              f"{format_size(needs_bytes)} needed")
    return path
