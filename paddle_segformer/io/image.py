"""Image and label reading/writing with errors that name the file. Imports no paddle.

Images come back as (H, W, C) arrays in RGB band order with their stored dtype
(uint8, uint16 or float32); labels as (H, W) integer arrays of class ids.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .atomic import atomic_write_bytes
from .decode import decode_image
from .errors import ImageReadError
from .integrity import check_complete

PathLike = Union[str, os.PathLike]
RASTER_EXTS = (".tif", ".tiff")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp") + RASTER_EXTS
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_file(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise ImageReadError(f"{path}: file is empty")
    return path


def _read_raster(path: str) -> np.ndarray:
    try:
        import rasterio
    except ImportError as exc:  # pragma: no cover - rasterio is a runtime requirement
        raise ImageReadError(f"{path}: reading tif needs rasterio (pip install rasterio)") from exc
    try:
        with rasterio.open(path) as src:
            data = src.read()  # (bands, H, W)
    except Exception as exc:  # rasterio raises RasterioIOError and GDAL-level errors
        raise ImageReadError(f"{path}: cannot read raster ({exc})") from exc
    return np.ascontiguousarray(np.transpose(data, (1, 2, 0)))


def read_whole(path: str) -> bytes:
    """The bytes of an image file after :func:`~paddle_segformer.io.integrity.check_complete` found it whole
    (not empty, a known format by its leading bytes, not cut short)."""
    return _read_checked(path)[0]


def _read_checked(path: str) -> Tuple[bytes, str]:
    """The bytes of a whole image file and its format (:func:`~paddle_segformer.io.integrity.check_complete`)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return data, check_complete(path, data)


def _read_decoded(path: str) -> np.ndarray:
    # OpenCV decodes a JPEG cut short without an error (grey fill): the structure is checked first
    img = decode_image(*_read_checked(path))
    if img is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    return img


def read_image(path: PathLike, channels: Optional[int] = None) -> np.ndarray:
    """Read an image as (H, W, C) in RGB(+extra bands) order, keeping its dtype.

    ``channels`` checks the band count; a 4-band PNG asked for 3 channels drops alpha, a
    1-band image asked for 3 is refused (no silent replication).
    """
    path = _check_file(path)
    img = _read_raster(path) if path.lower().endswith(RASTER_EXTS) else _read_decoded(path)
    if img.ndim == 2:
        img = img[:, :, None]
    if channels is not None and img.shape[2] != channels:
        if channels == 3 and img.shape[2] == 4 and not path.lower().endswith(RASTER_EXTS):
            img = img[:, :, :3]  # RGBA PNG: drop alpha
        else:
            raise ImageReadError(f"{path}: has {img.shape[2]} band(s), the config expects {channels}")
    return img


def read_label(path: PathLike) -> np.ndarray:
    """Read a single-band label (palette or grey PNG, or a tif) as an (H, W) integer array."""
    path = _check_file(path)
    if path.lower().endswith(RASTER_EXTS):
        label = _read_raster(path)
    else:
        import io as _io

        from PIL import Image

        data = read_whole(path)
        try:
            with Image.open(_io.BytesIO(data)) as im:
                if im.mode not in ("P", "L", "I", "I;16", "1"):
                    raise ImageReadError(f"{path}: label must be single-band (palette or grey), got mode {im.mode}")
                label = np.asarray(im)
        except ImageReadError:
            raise
        except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, SyntaxError
            raise ImageReadError(f"{path}: not a readable label image ({exc})") from exc
    if label.ndim == 3:
        if label.shape[2] != 1:
            raise ImageReadError(f"{path}: label must be single-band, got {label.shape[2]} bands")
        label = label[:, :, 0]
    if not np.issubdtype(label.dtype, np.integer):
        raise ImageReadError(f"{path}: label must hold integer class ids, got {label.dtype}")
    return label


def label_value_counts(label: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(values present, pixel count of each), as ``np.unique(label, return_counts=True)``; for 8/16-bit
    labels through ``np.bincount`` (6x faster than unique's sort on a 256^2 tile)."""
    if label.dtype in (np.uint8, np.uint16):
        counts = np.bincount(label.ravel())
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(label, return_counts=True)


def check_label_values(label: np.ndarray, num_classes: int, ignore_index: int, path: PathLike,
                       values: Optional[np.ndarray] = None) -> None:
    """Raise if ``label`` has values outside 0..num_classes-1 other than ``ignore_index`` (``values``:
    the values present, when known)."""
    values = label_value_counts(label)[0] if values is None else values
    bad = [int(v) for v in values if (v < 0 or v >= num_classes) and v != ignore_index]
    if bad:
        raise ImageReadError(f"{os.fspath(path)}: label values {bad[:10]} are outside 0..{num_classes - 1} "
                             f"(ignore index {ignore_index})")


def check_same_size(image_shape: Sequence[int], label_shape: Sequence[int], image_path: PathLike,
                    label_path: PathLike) -> None:
    """Raise if an image and its label (shapes (H, W, ...)) differ in height or width."""
    if tuple(image_shape[:2]) != tuple(label_shape[:2]):
        raise ImageReadError(f"{os.fspath(label_path)}: label is {label_shape[1]}x{label_shape[0]} (WxH) but "
                             f"image {os.fspath(image_path)} is {image_shape[1]}x{image_shape[0]}")


def read_image_list(path: PathLike) -> List[Path]:
    """Images named in a list file, one per line (first column, as PaddleSeg's ``--image_path`` list),
    relative to the list's folder; raises if it names none or names files that do not exist."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            files = [path.parent / line.split()[0] for line in handle if line.strip()]
    except UnicodeDecodeError as exc:
        raise ImageReadError(f"{path}: neither an image ({', '.join(IMAGE_EXTS)}) nor a text list of image "
                             f"paths") from exc
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: {len(missing)} listed image(s) do not exist: {', '.join(missing[:5])}")
    if not files:
        raise FileNotFoundError(f"{path}: the image list is empty")
    return files


def list_images(root: PathLike, exts: Sequence[str] = IMAGE_EXTS, recursive: bool = True) -> List[Path]:
    """Image files under ``root``, sorted; ``[root]`` for an image; the listed images for any other
    file (a list of image paths, see :func:`read_image_list`). Raises if there are none."""
    root = Path(root)
    if root.is_file():
        return [root] if root.suffix.lower() in exts else read_image_list(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise FileNotFoundError(f"{root}: folder holds no images ({', '.join(exts)})")
    return files


def input_bytes(root: PathLike) -> int:
    """The total size of the images :func:`list_images` finds under ``root`` (0 when there are none)."""
    try:
        return sum(os.path.getsize(path) for path in list_images(root))
    except (OSError, ValueError):  # no images, an unreadable list: the prediction itself reports it
        return 0


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def _palette_bytes(palette: Iterable[int]) -> bytes:
    values = np.asarray(list(palette))
    if values.ndim != 1 or not 3 <= values.size <= 768 or values.size % 3 or values.min() < 0 or values.max() > 255:
        raise ValueError(f"a PNG palette is 1 to 256 RGB triples of 0..255, flat; got {values.size} values "
                         f"in {values.min() if values.size else '-'}..{values.max() if values.size else '-'}")
    return values.astype(np.uint8).tobytes()


def _label_png(array: np.ndarray, palette: Optional[Iterable[int]]) -> bytes:
    """A 2-D uint8 array as an 8-bit greyscale (or, with ``palette``, indexed) PNG, every row unfiltered.

    Written here, not by Pillow or OpenCV: both choose PNG's adaptive row filters for 8-bit greyscale and
    offer no way to turn them off, and on a label map the filters only cost (B0's 512^2 random-weight labels:
    3.6 ms and 50 KB by Pillow at zlib level 1 with the run-length strategy, 1.4 ms and 27 KB unfiltered).
    """
    height, width = array.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row: filter type 0 (none), then its bytes
    rows[:, 1:] = array
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    pixels = packer.compress(rows.tobytes()) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if palette is None else 3, 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    if palette is not None:
        chunks.append(_png_chunk(b"PLTE", _palette_bytes(palette)))
    chunks += [_png_chunk(b"IDAT", pixels), _png_chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def encode_png(array: np.ndarray, palette: Optional[Iterable[int]] = None) -> bytes:
    """A uint8 (H, W) label (optionally with a palette of up to 256 RGB triples, flat) or (H, W, 3) RGB array
    as PNG bytes; labels by :func:`_label_png`, RGB by Pillow (zlib level 1, run-length strategy)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 2:
        if array.size == 0:
            raise ValueError(f"cannot write an empty {array.shape} label as PNG")
        return _label_png(array.astype(np.uint8, copy=False), palette)
    import io as _io

    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode="RGB").save(buf, format="PNG", compress_level=1,
                                                             compress_type=zlib.Z_RLE)
    return buf.getvalue()


def encode_jpg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """An (H, W, 3) RGB picture as JPEG bytes (overlays: a PNG of a photograph took 100 ms to encode at
    512^2, longer than B0's inference). Through Pillow, whose libjpeg-turbo encodes a 512^2 picture in
    0.65-1.1 ms where OpenCV's wheel took 2.9-3.8 ms."""
    import io as _io

    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_jpg(path: PathLike, rgb: np.ndarray, quality: int = 90) -> None:
    """Write an (H, W, 3) RGB picture as JPEG (:func:`encode_jpg`), atomically."""
    atomic_write_bytes(path, encode_jpg(rgb, quality))
