"""The one checkpoint reader: a file or a folder -> ``{key: numpy array}``, raising one error type.

Every caller reads through :func:`read_checkpoint`: strict loading and ``pretrained:`` (:mod:`.loading`,
through :func:`~.checkpoint.read_state_dict`), the conversions (:mod:`.checkpoint`, :mod:`.convert`,
``scripts/convert_weights.py``), ``train.py --resume_model / --pretrained`` and ``predict.py`` / ``val.py``.
``torch`` is imported only for ``.pth`` / ``.bin`` pickles and ``paddle`` only for ``.pdparams``; safetensors
files need neither. A ``.tar.gz`` / ``.tgz`` / ``.tar`` archive is read as PaddleSeg packs its weights: the one
``.pdparams`` inside (``mix_vision_transformer_b3/model.pdparams``), read from the archive without unpacking it to
disk.
"""
from __future__ import annotations

import logging
import os
from typing import Dict

import numpy as np

from .rules import CheckpointError

__all__ = ["CheckpointError", "FOLDER_FILES", "checkpoint_file", "is_paddle_file", "read_checkpoint"]

logger = logging.getLogger(__name__)

# A folder is read from the first of these it holds: our own (PaddleSeg's iter_N / best_model) first,
# then Hugging Face's, safetensors before the pickle (no torch, no code run on load).
FOLDER_FILES = ("model.pdparams", "model.safetensors", "pytorch_model.bin")
PADDLE_SUFFIXES = (".pdparams", ".pdparam")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")  # PaddleSeg's downloads: <name>/model.pdparams inside
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
_CONTAINERS = ("state_dict", "model", "model_state", "module")


def checkpoint_file(path: str) -> str:
    """The file ``path`` names: the path itself, or for a folder the first of :data:`FOLDER_FILES` in it.

    A folder holding both our ``model.pdparams`` and Hugging Face files (``model.safetensors``,
    ``pytorch_model.bin``, e.g. an export written beside a training checkpoint) is read from
    ``model.pdparams``, whoever asks; a warning names the file read and the files ignored.
    """
    if not os.path.isdir(path):
        return path
    found = [os.path.join(path, name) for name in FOLDER_FILES if os.path.isfile(os.path.join(path, name))]
    if not found:
        raise CheckpointError(f"{path}: folder holds none of {', '.join(FOLDER_FILES)}")
    if len(found) > 1:
        logger.warning("%s: reading %s, ignoring %s (a folder is read from the first of %s)", path,
                       os.path.basename(found[0]), ", ".join(os.path.basename(f) for f in found[1:]),
                       ", ".join(FOLDER_FILES))
    return found[0]


def is_paddle_file(path: str) -> bool:
    """Whether ``path`` (a file, see :func:`checkpoint_file`) is a Paddle ``.pdparams`` file, or an archive
    holding one (PaddleSeg's ``.tar.gz``)."""
    return path.lower().endswith(PADDLE_SUFFIXES + ARCHIVE_SUFFIXES)


def _read_archive(path: str) -> object:
    """The one ``.pdparams`` inside a tar archive (``model.pdparams`` if there are several), read in memory:
    nothing is unpacked to disk, so no name inside the archive can point outside it."""
    import io
    import tarfile

    import paddle

    with tarfile.open(path, "r:*") as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.lower().endswith(PADDLE_SUFFIXES)]
        if len(members) > 1:
            members = [m for m in members if os.path.basename(m.name) == "model.pdparams"] or members
        if len(members) != 1:
            names = ", ".join(m.name for m in members) or "none"
            raise CheckpointError(f"{path}: expected one .pdparams file in the archive (PaddleSeg's layout: "
                                  f"<name>/model.pdparams), found {names}")
        data = archive.extractfile(members[0]).read()
    return paddle.load(io.BytesIO(data))


def _as_numpy(value: object) -> np.ndarray:
    if not hasattr(value, "numpy"):
        return np.asarray(value)
    bf16 = str(getattr(value, "dtype", "")).endswith("bfloat16")  # numpy has no bfloat16
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu()
        return (value.float() if bf16 else value).numpy()
    return (value.astype("float32") if bf16 else value).numpy()  # paddle: bfloat16 would be raw uint16


def _read_file(path: str, trust_pickle: bool) -> object:
    lower = path.lower()
    if lower.endswith(".safetensors"):
        from safetensors.numpy import load_file

        return load_file(path)
    if lower.endswith(ARCHIVE_SUFFIXES):
        return _read_archive(path)
    if is_paddle_file(path):
        import paddle

        return paddle.load(path)
    if lower.endswith(TORCH_SUFFIXES):
        return _read_torch(path, trust_pickle)
    raise CheckpointError(f"{path}: unknown checkpoint type (expected .pdparams/.pth/.bin/.safetensors/.tar.gz "
                          "or a folder)")


def read_checkpoint(path: str, trust_pickle: bool = False) -> Dict[str, np.ndarray]:
    """A checkpoint file or folder (see :func:`checkpoint_file`) -> ``{key: numpy array}``, keys as stored.

    mmseg / training containers (``{'state_dict': ...}``, ``{'model': ...}``) are unwrapped and a DDP
    ``module.`` prefix removed. ``.pth`` files that are not plain tensors need ``trust_pickle``. Raises
    :class:`CheckpointError`, naming the file, for anything unreadable.
    """
    path = checkpoint_file(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = _read_file(path, trust_pickle)
    except CheckpointError:
        raise
    except Exception as exc:  # corrupt files raise many types
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    for key in _CONTAINERS:  # mmseg {'meta', 'state_dict'}, training dumps {'model': ...}
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"checkpoint {path} holds no state dict (got {type(state).__name__})")
    return {k[len("module."):] if k.startswith("module.") else k: _as_numpy(v) for k, v in state.items()
            if hasattr(v, "shape")}


def _read_torch(path: str, trust_pickle: bool) -> dict:
    try:
        import torch
    except ImportError as exc:
        raise CheckpointError(f"{path}: reading .pth/.bin needs PyTorch (pip install torch); "
                              "safetensors files do not") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as exc:
        if trust_pickle:
            raise
        raise CheckpointError(f"{path}: not loadable as plain weights ({exc}); if you trust the file, convert "
                              "it once with scripts/convert_weights.py --trust_pickle") from exc
