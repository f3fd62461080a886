"""Start-up check of a list of (image, label) pairs before training: every image and label readable,
band count, sizes, CRS, label values in range; class frequencies. A long list is checked in worker
processes, one per core (threads gave no speed-up: decoding and counting hold the GIL long enough to
serialise them), reports every bad file (the first ``SHOWN`` and a count), and remembers a list that passed
(keyed by the paths, sizes and modification times of its files) so an unchanged list is not read twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..io.image import (RASTER_EXTS, ImageReadError, check_label_values, check_same_size, label_value_counts,
                        read_image, read_label, read_whole)
from ..io.raster import RasterMeta, read_meta, read_raster
from .transforms import check_depth

logger = logging.getLogger(__name__)

SHOWN = 20  # bad files named in the error; the rest are counted
CHUNK = 256  # pairs per worker task (fewer hand-offs than one pair a task)
PROCESS_MIN = 2000  # shorter lists are checked in this process (starting workers would cost more)
Pair = Tuple[str, Optional[str]]


class DataCheckError(ImageReadError):
    """One or more pairs of a list cannot be trained on; the message names them."""


@dataclass(frozen=True)
class LabelSpec:
    """What a pair must satisfy: band count, class count, ignore index, 8-bit pixels where the transforms
    assume 0..255."""

    num_classes: int
    img_channels: int
    ignore_index: int = 255
    depth_problem: Optional[str] = None  # why images deeper than 8 bits are refused (transforms.depth_problem)


def _meta(path: str) -> RasterMeta:
    if path.lower().endswith(RASTER_EXTS):
        meta = read_meta(path)
        read_raster(path, (meta.height - 1, 0, 1, meta.width))  # a truncated file fails on its last row
        return meta
    if path.lower().endswith((".jpg", ".jpeg")):
        meta = _jpeg_meta(path)
        if meta is not None:
            return meta
    img = read_image(path)  # small formats: decoding is the only reliable check
    return RasterMeta(img.shape[0], img.shape[1], img.shape[2], str(img.dtype))


JPEG_BANDS = {"L": 1, "RGB": 3}  # Pillow's mode -> bands OpenCV decodes (other modes: a full decode decides)


def _jpeg_meta(path: str) -> Optional[RasterMeta]:
    """Size and bands from the JPEG header, wholeness from its markers (:func:`read_whole`: a file cut short
    ends without EOI), readability by OpenCV decoding the whole file at 1/8 scale
    (every entropy-coded block is read, only the inverse transform is smaller: 0.15 ms against 0.65 ms
    at 256^2, the check's largest cost); None for a mode the table does not know."""
    import io

    import cv2
    from PIL import Image, UnidentifiedImageError

    data = read_whole(path)  # read once: markers walked (a file cut short), Pillow parses, OpenCV decodes
    try:
        with Image.open(io.BytesIO(data)) as im:
            (width, height), bands = im.size, JPEG_BANDS.get(im.mode)
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageReadError(f"{path}: not a readable image (corrupt or unsupported format)") from exc
    if bands is None:
        return None
    flag = cv2.IMREAD_REDUCED_COLOR_8 if bands == 3 else cv2.IMREAD_REDUCED_GRAYSCALE_8
    if cv2.imdecode(np.frombuffer(data, np.uint8), flag) is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    return RasterMeta(height, width, bands, "uint8")


def _check_georeference(image_path: str, label_path: str, meta: RasterMeta) -> None:
    if not label_path.lower().endswith(RASTER_EXTS) or meta.crs is None:
        return
    label_meta = read_meta(label_path)
    if label_meta.crs is not None and label_meta.crs != meta.crs:
        raise ImageReadError(f"{label_path}: CRS {label_meta.crs} differs from image {image_path} ({meta.crs})")
    if label_meta.transform is not None and meta.transform is not None and not \
            label_meta.transform.almost_equals(meta.transform):
        raise ImageReadError(f"{label_path}: transform differs from image {image_path}: the label "
                             "does not cover the same ground")


def check_pair(image_path: str, label_path: Optional[str], spec: LabelSpec) -> np.ndarray:
    """Raise :class:`ImageReadError` naming the file and the problem; return the label's pixel count per
    class, (num_classes + 1,) with ignored pixels last (zeros without a label)."""
    counts = np.zeros(spec.num_classes + 1, np.int64)
    meta = _meta(image_path)
    if meta.count != spec.img_channels:
        raise ImageReadError(f"{image_path}: has {meta.count} band(s), the config expects {spec.img_channels}")
    check_depth(meta.dtype, spec.depth_problem, image_path)
    if label_path is None:
        return counts
    label = read_label(label_path)
    check_same_size((meta.height, meta.width), label.shape, image_path, label_path)
    _check_georeference(image_path, label_path, meta)
    values, found = label_value_counts(label)
    check_label_values(label, spec.num_classes, spec.ignore_index, label_path, values)
    for value, n in zip(values, found):
        counts[int(value) if value < spec.num_classes else spec.num_classes] += int(n)
    return counts


def _check_chunk(pairs: Sequence[Pair], spec: LabelSpec) -> Tuple[np.ndarray, List[str]]:
    counts, errors = np.zeros(spec.num_classes + 1, np.int64), []
    for image_path, label_path in pairs:
        try:
            counts += check_pair(image_path, label_path, spec)
        except (OSError, ValueError) as exc:  # ImageReadError, missing or unreadable file
            errors.append(str(exc))
    return counts, errors


def check_pairs(pairs: Sequence[Pair], num_classes: int, img_channels: int, ignore_index: int = 255,
                progress: bool = True, workers: Optional[int] = None, use_cache: bool = True,
                depth_problem: Optional[str] = None) -> Dict[str, object]:
    """Check every pair; raise :class:`DataCheckError` naming the bad files (first ``SHOWN``, and how
    many in all), else return {pairs, class_fraction, ignored_fraction} and log it. ``depth_problem``
    (:func:`~paddle_segformer.data.transforms.depth_problem`): images deeper than 8 bits are refused with it."""
    spec = LabelSpec(num_classes, img_channels, ignore_index, depth_problem)
    cache = _cache_file(pairs, spec) if use_cache else None
    if cache is not None and cache.is_file():
        summary = json.loads(cache.read_text(encoding="utf-8"))
        logger.info("dataset check: %d pairs unchanged since they passed (%s)", len(pairs), cache)
        return summary
    counts, errors = _run(pairs, spec, progress, workers)
    if errors:
        shown = "\n".join(f"  {e}" for e in errors[:SHOWN])
        more = f"\n  ... and {len(errors) - SHOWN} more" if len(errors) > SHOWN else ""
        raise DataCheckError(f"{len(errors)} of {len(pairs)} image/label pair(s) failed the data check "
                             f"(--skip_data_check trains anyway):\n{shown}{more}")
    total = max(int(counts.sum()), 1)
    summary = {"pairs": len(pairs), "class_fraction": (counts[:num_classes] / total).tolist(),
               "ignored_fraction": float(counts[num_classes] / total)}
    logger.info("dataset check: %d pairs OK; class frequencies %s; ignored %.1f%%", len(pairs),
                ", ".join(f"{i}: {100 * f:.1f}%" for i, f in enumerate(summary["class_fraction"])),
                100 * summary["ignored_fraction"])
    if cache is not None:
        _save(cache, summary)
    return summary


def _run(pairs: Sequence[Pair], spec: LabelSpec, progress: bool,
         workers: Optional[int]) -> Tuple[np.ndarray, List[str]]:
    """All pairs -> (summed counts, error messages in list order); in ``workers`` processes (default:
    one per core) when the list is long, else here."""
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    chunks = [pairs[i:i + CHUNK] for i in range(0, len(pairs), CHUNK)]
    counts, errors = np.zeros(spec.num_classes + 1, np.int64), []
    with tqdm(total=len(pairs), desc="checking dataset", unit="pair",
              disable=None if progress and len(pairs) > 200 else True) as bar:
        if workers == 1 or len(pairs) < PROCESS_MIN:
            results = (_check_chunk(chunk, spec) for chunk in chunks)
            _gather(chunks, results, counts, errors, bar)
        else:  # spawn: the caller may hold paddle's and numba's threads, which fork would copy half-way
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                _gather(chunks, pool.map(_check_chunk, chunks, [spec] * len(chunks)), counts, errors, bar)
    return counts, errors


def _gather(chunks: List[Sequence[Pair]], results: Iterable[Tuple[np.ndarray, List[str]]], counts: np.ndarray,
            errors: List[str], bar: Any) -> None:
    for chunk, (chunk_counts, chunk_errors) in zip(chunks, results):
        counts += chunk_counts
        errors += chunk_errors
        bar.update(len(chunk))


def _cache_file(pairs: Sequence[Pair], spec: LabelSpec) -> Optional[Path]:
    """Where the summary of ``pairs`` is kept once they pass: named by a hash of the spec and of each
    file's path, size and modification time (a file that changes gets a new name: checked again).
    None when a file cannot be stat'ed (the check itself reports it)."""
    from ..io.cache import user_cache_dir

    digest = hashlib.sha256(json.dumps(asdict(spec)).encode())
    try:
        for pair in pairs:
            for path in pair:
                if path is not None:
                    st = os.stat(path)
                    digest.update(f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError:
        return None
    return user_cache_dir() / "data_check" / f"{digest.hexdigest()[:32]}.json"


def _save(path: Path, summary: Dict[str, object]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(summary).encode())
    except OSError as exc:  # a read-only cache costs a re-check next time, nothing else
        logger.warning("could not remember the dataset check in %s: %s", path, exc)
