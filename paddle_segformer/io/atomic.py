"""Atomic writes: a file appears under its final name complete or not at all (a temporary file beside
it, renamed over it on success, deleted on error). Used for every output and checkpoint. Imports no paddle."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union

PathLike = Union[str, os.PathLike]


def temp_beside(path: PathLike) -> str:
    """Create an empty hidden ``.NAME.*.part`` file in ``path``'s folder (made if needed); return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    return tmp


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success, delete it on error,
    so nothing half-written ever stands under the final name."""
    tmp = temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def atomic_save(obj: Any, path: str, **kwargs: Any) -> None:
    """``paddle.save`` to a temporary file in the same folder, then rename over ``path``."""
    import paddle  # here: this module imports no paddle otherwise

    with atomic_path(os.path.abspath(path)) as tmp:
        paddle.save(obj, tmp, **kwargs)
