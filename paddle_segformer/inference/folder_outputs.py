"""What a folder prediction writes for each input, and where: the label PNG (palette, pixel values = class
ids), pseudo-colour PNG, overlay JPEG, label GeoTIFF and, with ``--save_scores``, the score raster; the
inputs of a folder prediction and their names (relative paths, the same in the report and the journal)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..io.atomic import atomic_write_bytes
from ..io.image import encode_jpg, encode_png, list_images
from ..io.raster import RasterMeta, label_colormap, score_path, write_label_raster
from ..report.palettes import colorize, overlay, palette
from .scores import SCORE_NODATA, SCORE_RESAMPLING

if TYPE_CHECKING:
    from ..data.label_ids import LabelIds

OVERLAY_MAX_SIDE = 4096  # larger overlays are downscaled: nobody looks at a bigger picture whole


def output_paths(save_dir: Path, rel: Path) -> Dict[str, Path]:
    """Where the outputs of an input at relative path ``rel`` go (same stem everywhere; ``score``: the
    ``--save_scores`` raster beside the label GeoTIFF of a tif, ``score_png`` that of another image)."""
    stem = rel.with_suffix(".png")
    geotiff = save_dir / "geotiff" / rel.with_suffix(".tif")
    return {"label": save_dir / "label" / stem, "pseudo_color": save_dir / "pseudo_color" / stem,
            "overlay": save_dir / "overlay" / rel.with_suffix(".jpg"), "geotiff": geotiff,
            "score": score_path(geotiff), "score_png": save_dir / "score" / stem}


class Outputs:
    """Writes label PNG (palette, pixel values = class ids), pseudo-colour, overlay, label GeoTIFF.

    ``colours`` ((R, G, B) for classes 0, 1, ...) replace the first palette entries (predict.py's
    ``--custom_color``, else the dataset's ``PALETTE``); source nodata pixels are labelled ``nodata_label``.
    ``label_ids`` (:class:`~paddle_segformer.data.label_ids.LabelIds`) writes other ids than the class ids into
    the label PNGs (predict.py's ``--label_ids``). ``scores``: also the winning class's probability beside
    each label GeoTIFF, or as a grey PNG under ``score/`` (predict.py's ``--save_scores``; :mod:`.scores`)."""

    def __init__(self, num_classes: int, colours: Optional[Sequence[Tuple[int, int, int]]] = None,
                 nodata_label: int = 255, label_ids: Optional["LabelIds"] = None, scores: bool = False):
        if not num_classes <= nodata_label <= 255:
            raise ValueError(f"label PNGs / GeoTIFFs hold class ids in 8 bits and mark nodata with the ignore index "
                             f"({nodata_label}), which must lie in {num_classes}..255 for {num_classes} classes")
        self.num_classes, self.nodata_label = num_classes, nodata_label
        self.table = palette(list(colours) if colours else None, nodata_label)
        self.flat_palette = self.table.reshape(-1).tolist()
        self.colormap = label_colormap(self.table, num_classes)
        self.label_ids, self.scores = label_ids, scores

    def write(self, targets: Dict[str, Path], img: np.ndarray, label: np.ndarray,
              meta: Optional[RasterMeta], scores: Optional[np.ndarray] = None,
              stage: Callable[[Path, bytes], None] = atomic_write_bytes) -> Path:
        """Write an image's outputs; the PNG / JPEG ones through ``stage`` (path, bytes): atomically one by one,
        or a :class:`~paddle_segformer.io.commit_group.CommitGroup`'s ``write_bytes`` (published together later);
        GeoTIFFs are written atomically here. -> the label PNG's path."""
        if meta is not None:  # tif in: also a label GeoTIFF in the same place on the ground
            write_label_raster(targets["geotiff"], label, meta, self.colormap,
                               nodata=self.nodata_label if meta.nodata is not None else None)
        if scores is not None and meta is not None:
            write_label_raster(targets["score"], scores, meta, nodata=SCORE_NODATA if meta.nodata is not None
                               else None, resampling=SCORE_RESAMPLING)
        elif scores is not None:  # a grey PNG for images without georeferencing
            stage(targets["score_png"], encode_png(scores))
        ids = label.astype(np.uint8)  # once for both pictures (class ids and nodata fit a byte: __init__)
        png = encode_png(ids, palette=self.flat_palette)
        stage(targets["label"], png if self.label_ids is None else encode_png(
            self.label_ids.encode(label), palette=self.label_ids.palette.reshape(-1).tolist()))
        stage(targets["pseudo_color"], png)  # as PaddleSeg's: class ids with the colour palette
        stage(targets["overlay"], encode_jpg(overlay_picture(img, ids, self.table)))
        return targets["label"]


def overlay_picture(img: np.ndarray, label: np.ndarray, table: np.ndarray,
                    max_side: int = OVERLAY_MAX_SIDE) -> np.ndarray:
    """The (H, W, 3) overlay of ``label`` on ``img``, downscaled (area for the image, nearest for the
    labels) so that its longer side is at most ``max_side``."""
    height, width = label.shape
    if max(height, width) > max_side:
        import cv2

        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        img = cv2.resize(np.ascontiguousarray(img[:, :, :3] if img.ndim == 3 else img), size,
                         interpolation=cv2.INTER_AREA)
        label = cv2.resize(label.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return overlay(img, colorize(label, table))


def output_targets(files: List[Path], base: Path, out: Path) -> List[object]:
    """Output paths per file, or the reason it cannot be written (same folder and stem as another)."""
    claimed: Dict[Path, Path] = {}
    result: List[object] = []
    for path in files:
        # a listed image outside the list's folder keeps only its name
        targets = output_paths(out, path.relative_to(base) if path.is_relative_to(base) else Path(path.name))
        if targets["label"] in claimed:
            result.append(ValueError(f"same folder and stem as {claimed[targets['label']].name}: "
                                     f"outputs would overwrite each other"))
            continue
        claimed[targets["label"]] = path
        result.append(targets)
    return result


def input_files(image_path: str) -> Tuple[List[Path], Path]:
    """The images to predict at ``image_path`` (a file, a folder, a list file), sorted, and the folder their
    names and outputs are relative to."""
    root = Path(image_path)
    return list_images(root), root if root.is_dir() else root.parent


def input_name(path: Path, base: Path) -> str:
    """An input's name in the report and the manifest: its path relative to the input folder."""
    return (path.relative_to(base) if path.is_relative_to(base) else Path(path.name)).as_posix()
