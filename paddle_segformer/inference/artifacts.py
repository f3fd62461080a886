"""Exported and converted inference models, made on first use and cached by content.

An artifact is the :class:`~paddle_segformer.inference.graph.InferenceGraph` of a model saved as a
Paddle static model (``paddle``: ``model.json`` + ``model.pdiparams``) or converted from that to ONNX
(``onnx``: ``model.onnx``, through paddle2onnx). It is keyed by the weights' content, the band count,
the graph's output and the versions that made it, so a retrained checkpoint never reuses a stale
file. It is written beside the checkpoint (``<checkpoint folder>/.inference/<key>/``) when that
folder is writable, else in the user cache (``$PADDLE_SEGFORMER_CACHE``, or
``~/.cache/paddle_segformer``); always into a temporary folder renamed into place when complete.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import numpy as np
import paddle
import paddle.nn as nn

from ..io.atomic import publish_dir, temp_dir_beside
from ..io.cache import user_cache_dir
from .static import export_static

logger = logging.getLogger(__name__)

# Bump when the inference graph or the conversion changes: old artifacts then stop matching.
GRAPH_VERSION = 2
OUTPUT = "logits_stride4"
ONNX_OPSET = 17
KINDS = {"paddle": "model.json", "onnx": "model.onnx"}


def _converter_version() -> str:
    try:
        import paddle2onnx
    except ImportError:
        return "none"
    return getattr(paddle2onnx, "__version__", "?")


def fingerprint(graph: nn.Layer, in_channels: int) -> str:
    """sha256 (first 16 hex digits) of the weights (names, shapes, dtypes, values), the graph's
    settings (band count, align_corners, output) and the versions that export and convert it."""
    digest = hashlib.sha256()
    facts = (f"v{GRAPH_VERSION}|{OUTPUT}|bands={in_channels}|align={getattr(graph, 'align_corners', None)}"
             f"|paddle={paddle.__version__}|paddle2onnx={_converter_version()}|opset={ONNX_OPSET}")
    digest.update(facts.encode())
    for name, value in graph.state_dict().items():
        array = np.ascontiguousarray(value.numpy())
        digest.update(f"|{name}:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def cache_roots(model_path: Optional[str] = None, cache_dir: Optional[str] = None) -> List[Path]:
    """Where to look for / write artifacts, in order: ``cache_dir`` if given, else beside the
    checkpoint, then the user cache."""
    if cache_dir:
        return [Path(cache_dir)]
    roots = []
    if model_path:
        folder = Path(model_path) if os.path.isdir(model_path) else Path(model_path).parent
        roots.append(folder / ".inference")
    return roots + [user_cache_dir()]


def _save_paddle(graph: nn.Layer, in_channels: int, folder: str) -> None:
    """``graph`` as a Paddle static model in ``folder``, through the package's one export (dynamic shapes)."""
    export_static(graph, folder, in_channels)


def _flush_c_stdout() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to flush through: nothing buffered there either
        pass


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """paddle2onnx prints progress lines on stdout from C++; keep them out of the user's output."""
    try:
        fd = os.dup(1)
    except OSError:  # no real stdout (some notebooks)
        yield
        return
    sys.stdout.flush()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:
            _flush_c_stdout()  # what C++ buffered goes to the sink, not to the restored stdout
            os.dup2(fd, 1)
            os.close(fd)


def save_onnx(graph: nn.Layer, in_channels: int, folder: str) -> None:
    """``graph`` as ``folder/model.onnx`` (paddle.jit.save, then paddle2onnx at opset ONNX_OPSET)."""
    try:
        import paddle2onnx
    except ImportError as exc:
        raise RuntimeError("ONNX conversion needs paddle2onnx (pip install paddle2onnx==2.1.0)") from exc
    with tempfile.TemporaryDirectory() as tmp:
        _save_paddle(graph, in_channels, tmp)
        # optimize_tool "None": the default optimiser pip-installs packages at export time and took
        # minutes on B3; ONNX Runtime and OpenVINO do their own graph optimisation anyway.
        with _quiet_stdout():
            paddle2onnx.export(os.path.join(tmp, "model.json"), os.path.join(tmp, "model.pdiparams"),
                               os.path.join(folder, KINDS["onnx"]), opset_version=ONNX_OPSET,
                               optimize_tool="None", enable_onnx_checker=True)


WRITERS = {"paddle": _save_paddle, "onnx": save_onnx}


def _build_into(root: Path, key: str, kind: str, marker: str, build: Callable[[str], None]) -> Path:
    final = root / key / kind
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(final)
    try:
        build(tmp)
        publish_dir(tmp, final)  # a concurrent builder may have won: then ours is dropped below
    except OSError:
        if not (final / marker).is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def made_once(key: str, kind: str, marker: str, build: Callable[[str], None], model_path: Optional[str] = None,
              cache_dir: Optional[str] = None) -> Path:
    """Folder ``<root>/<key>/<kind>`` holding ``marker`` once complete: the cached one if a root has it, else
    built by ``build(folder)`` into a temporary folder renamed into place (in the first writable root)."""
    roots = cache_roots(model_path, cache_dir)
    for root in roots:
        if (root / key / kind / marker).is_file():
            logger.info("using cached %s model %s", kind, root / key / kind)
            return root / key / kind
    errors = []
    for root in roots:
        try:
            path = _build_into(root, key, kind, marker, build)
        except OSError as exc:  # read-only checkpoint folder: try the next root
            errors.append(f"{root}: {exc}")
            continue
        logger.info("made the %s inference model %s (made once, reused while its key is the same)", kind, path)
        return path
    raise OSError("cannot write the inference model anywhere: " + "; ".join(errors))


def artifact(graph: nn.Layer, in_channels: int, kind: str, model_path: Optional[str] = None,
             cache_dir: Optional[str] = None) -> Path:
    """Folder holding ``graph`` as ``kind`` ('paddle' or 'onnx'); made on first use, reused after."""
    if kind not in KINDS:
        raise ValueError(f"artifact kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return made_once(fingerprint(graph, in_channels), kind, KINDS[kind],
                     lambda folder: WRITERS[kind](graph, in_channels, folder), model_path, cache_dir)
