"""Pretrained weights named by a URL: downloaded once into the cache folder, read from there ever after (no
network), and checked on every use against the sha256 recorded when they first loaded into a model.

Layout: ``<cache>/weights/<host>/<path of the URL>``, e.g.
``~/.cache/paddle_segformer/weights/bj.bcebos.com/paddleseg/dygraph/backbone/mix_vision_transformer_b3.tar.gz``
(``$PADDLE_SEGFORMER_CACHE`` moves ``<cache>``: :mod:`paddle_segformer.io.cache`), with ``<file>.sha256`` beside
it in ``sha256sum`` format (``sha256sum -c`` reads it). A file put there by hand is used as if downloaded. The
sha256 is recorded once the file has loaded into a model (:func:`confirm`), so a wrong file, downloaded or put
there, can be replaced; once recorded, a changed file is refused, never loaded. A local path is read where it
is and never triggers a download. Imports no paddle.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional
from urllib.parse import unquote, urlparse

from ..io.atomic import atomic_path, atomic_write_bytes
from ..io.cache import user_cache_dir
from .download import DownloadError, download
from .reader import checkpoint_file
from .rules import CheckpointError

logger = logging.getLogger(__name__)

NO_WEIGHTS = ("", "none", "null")  # pretrained: none / --pretrained none: random initialisation
RECORD_SUFFIX = ".sha256"


def no_weights(value: Optional[str]) -> bool:
    """Whether a ``pretrained`` value asks for no weights (None, empty, ``none``)."""
    return value is None or str(value).strip().lower() in NO_WEIGHTS


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL (anything else is a local path)."""
    parts = urlparse(str(value))
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def weights_cache_dir() -> Path:
    """Where downloaded weights are kept: ``<user cache>/weights``."""
    return user_cache_dir() / "weights"


def cache_path(url: str) -> Path:
    """The file a URL is cached as: ``<cache>/weights/<host>/<path>`` (query and fragment left out)."""
    parts = urlparse(url)
    segments = [unquote(s) for s in parts.path.split("/") if s not in ("", ".", "..")]
    if not segments:
        raise ValueError(f"{url}: the URL names no file")
    return weights_cache_dir().joinpath(parts.netloc.replace(":", "_"), *segments)


def sha256_file(path: os.PathLike) -> str:
    """The sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(path: os.PathLike) -> Path:
    """``<file>.sha256`` beside a cached file."""
    path = Path(path)
    return path.with_name(path.name + RECORD_SUFFIX)


def recorded_sha256(path: os.PathLike) -> Optional[str]:
    """The sha256 recorded for a cached file, None when there is no record."""
    try:
        text = record_path(path).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return None
    return text[0].lower() if text else None


@dataclass(frozen=True)
class PretrainedFile:
    """Weights found: ``source`` as given (URL or path), ``path`` the file read, its ``sha256``; ``recorded``
    False for a cached file whose sha256 is to be recorded once it loads (:func:`confirm`)."""

    source: str
    path: str
    sha256: str
    recorded: bool = True
    downloaded: bool = False

    @property
    def url(self) -> Optional[str]:
        return self.source if is_url(self.source) else None

    def describe(self) -> str:
        """``URL (cached at PATH), sha256 PREFIX`` or ``PATH, sha256 PREFIX``."""
        where = f"{self.source} (cached at {self.path})" if self.url else self.path
        return f"{where}, sha256 {self.sha256[:12]}"


def unavailable(url: str, why: str) -> DownloadError:
    """The one-line error of weights that are neither cached nor downloadable, with the ways out."""
    return DownloadError(f"{why}. Without network, put the file at {cache_path(url)} (scripts/fetch_weights.py "
                         f"--from DIR copies it there and checks it), or train from scratch with --pretrained none")


def _changed(url: str, path: Path, sha256: str, recorded: str) -> CheckpointError:
    return CheckpointError(f"{path} (the cached copy of {url}) has changed since it was first used: sha256 "
                           f"{sha256}, recorded {recorded} in {record_path(path)}; refusing to load it. Delete both "
                           "files to download it again, or put the original back")


def _cached(url: str) -> PretrainedFile:
    path = cache_path(url)
    if path.is_file():
        sha256, recorded = sha256_file(path), recorded_sha256(path)
        if recorded is not None and recorded != sha256:
            raise _changed(url, path, sha256, recorded)
        return PretrainedFile(url, str(path), sha256, recorded=recorded is not None)
    try:
        sha256 = download(url, path)
    except DownloadError as exc:
        raise unavailable(url, str(exc)) from None
    return PretrainedFile(url, str(path), sha256, recorded=False, downloaded=True)


def locate(source: str) -> PretrainedFile:
    """The file ``source`` names: a URL from the cache (downloaded on first use, checked against its recorded
    sha256), a local path (file or folder) as it is. Raises :class:`DownloadError` (an ``OSError``) when a URL
    is not cached and cannot be downloaded, :class:`CheckpointError` for a changed cached file or a missing
    local one."""
    if is_url(source):
        return _cached(source)
    path = checkpoint_file(str(source))  # a folder: the file read from it
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    return PretrainedFile(str(source), path, sha256_file(path))


def confirm(found: PretrainedFile) -> None:
    """Record the sha256 of a cached file that has loaded into a model (nothing for local files or files
    already recorded)."""
    if found.recorded or not found.url:
        return
    atomic_write_bytes(record_path(found.path), f"{found.sha256}  {Path(found.path).name}\n".encode())
    logger.info("recorded sha256 %s of %s", found.sha256, found.path)


def import_file(src: os.PathLike, url: str) -> PretrainedFile:
    """Copy ``src`` (a file copied over from a machine with network) into the cache as ``url``'s file,
    atomically; to be checked and recorded by the caller (:func:`confirm`). A different file already on record
    there is refused."""
    dest, sha256 = cache_path(url), sha256_file(src)
    recorded = recorded_sha256(dest) if dest.is_file() else None
    if recorded == sha256:
        return PretrainedFile(url, str(dest), sha256)
    if recorded is not None:
        raise CheckpointError(f"{src} differs from the file already cached for {url} (sha256 {sha256}, recorded "
                              f"{recorded}); delete {dest} and {record_path(dest)} first to replace it")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    logger.info("copied %s -> %s", src, dest)
    return PretrainedFile(url, str(dest), sha256, recorded=False)


def cached_files() -> List[Path]:
    """Every weights file in the cache (records and unfinished downloads left out), sorted."""
    root = weights_cache_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(RECORD_SUFFIX))
