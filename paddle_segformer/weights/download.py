"""One file over HTTP(S) with the standard library: a timeout, a progress bar, the bytes hashed as they arrive,
and the file published under its name (atomically, durably: :mod:`paddle_segformer.io.atomic`) only when
every byte the server announced has arrived. Imports no paddle."""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Optional

from ..io.atomic import publish, temp_beside
from ..io.paths import format_size

logger = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds to connect, and at most between two reads: a dead host or link fails in seconds
CHUNK = 1 << 20


class DownloadError(OSError):
    """A file that could not be downloaded (no network, an unknown host, an HTTP error, a cut transfer);
    the message names the URL."""


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    return str(getattr(reason, "strerror", None) or reason)


def _open(url: str, timeout: float) -> BinaryIO:
    request = urllib.request.Request(url, headers={"User-Agent": "paddle-segformer"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http / https, checked by the caller)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:  # refused, unknown
        # host, timeout, HTTP 4xx / 5xx, a garbled answer
        raise DownloadError(f"cannot download {url}: {_why(exc, timeout)}") from None


def _progress(total: Optional[int], name: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, disable=None, leave=False)


def _copy(response: BinaryIO, out: BinaryIO, url: str, name: str, timeout: float) -> "hashlib._Hash":
    """Stream ``response`` into ``out`` with a progress bar; the sha256 of what was written."""
    total = int(response.headers.get("Content-Length") or 0) or None
    digest, size = hashlib.sha256(), 0
    with _progress(total, name) as bar:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # reset, stalled, cut short
                raise DownloadError(f"cannot download {url}: cut after {format_size(size)} "
                                    f"({_why(exc, timeout)})") from None
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    if total is not None and size != total:
        raise DownloadError(f"cannot download {url}: the transfer ended after {size} of {total} bytes")
    return digest


def download(url: str, path: Path, timeout: Optional[float] = None) -> str:
    """Download ``url`` to ``path`` (its folder made if needed); returns the file's sha256 (hex).

    The bytes go to a hidden temporary file beside ``path``, renamed over it once complete: an interrupted or
    failed download leaves nothing under ``path``. ``timeout``: seconds (default :data:`TIMEOUT`). Raises
    :class:`DownloadError` naming the URL."""
    path, timeout = Path(path), timeout or TIMEOUT
    logger.info("downloading %s -> %s", url, path)
    with _open(url, timeout) as response:
        tmp = temp_beside(path)
        try:
            with open(tmp, "wb") as out:
                digest = _copy(response, out, url, path.name, timeout)
            publish(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    sha256 = digest.hexdigest()
    logger.info("downloaded %s: %s, sha256 %s", path.name, format_size(path.stat().st_size), sha256)
    return sha256
