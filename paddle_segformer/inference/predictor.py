"""Predict single images or whole folders with a dynamic model through ``paddleseg.core.infer``."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
from paddleseg.core import infer
from paddleseg.transforms import Compose

from ..io.image import RASTER_EXTS, list_images, write_png
from ..io.raster import RasterMeta, label_colormap, read_model_input, write_label_raster
from ..visualize import colorize, overlay, palette

logger = logging.getLogger(__name__)

PIXELWISE = ("Normalize", "BandNormalize")
NODATA_LABEL = 255


@dataclass
class PredictSummary:
    """What a folder prediction did."""

    written: List[Path] = field(default_factory=list)
    failed: List[Tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> str:
        lines = [f"predicted {len(self.written)} image(s), {len(self.failed)} failed, {self.seconds:.1f} s"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


class Predictor:
    """Wraps a model and its eval transforms. ``predict(img)`` -> (H, W) class ids (uint8)."""

    def __init__(self, model: paddle.nn.Layer, transforms: Sequence, img_channels: int = 3,
                 is_slide: bool = False, crop_size: Optional[Sequence[int]] = None,
                 stride: Optional[Sequence[int]] = None, aug_eval: bool = False,
                 scales: Union[float, Sequence[float]] = 1.0, flip_horizontal: bool = False,
                 flip_vertical: bool = False):
        self.model = model
        self.model.eval()
        self.img_channels = img_channels
        self.transforms = Compose(list(transforms), to_rgb=False, img_channels=img_channels)
        self.slide = dict(is_slide=is_slide, crop_size=crop_size, stride=stride)
        self.aug = dict(scales=scales, flip_horizontal=flip_horizontal, flip_vertical=flip_vertical) if aug_eval else None

    def preprocess(self, img: np.ndarray) -> np.ndarray:
        """Raw (h, w, C) -> normalised float32 (h, w, C); only for pixel-wise transforms (tiling)."""
        data = {"img": img.astype(np.float32), "trans_info": []}
        for op in self.transforms.transforms:
            if type(op).__name__ not in PIXELWISE:
                raise ValueError(f"tiled prediction needs pixel-wise eval transforms; {type(op).__name__} is not")
            data = op(data)
        return data["img"]

    def nodata_fill(self) -> Optional[np.ndarray]:
        """Raw per-band values that normalise to 0: what nodata pixels are given (as in training)."""
        for op in self.transforms.transforms:
            if hasattr(op, "fill_values"):
                return op.fill_values()
            if type(op).__name__ == "Normalize":  # PaddleSeg: (x / 255 - mean) / std
                return np.asarray(op.mean, np.float32) * 255.0
        return None

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, h, w) normalised -> (N, K, h, w) logits at the same size."""
        with paddle.no_grad():
            return self.model(paddle.to_tensor(batch))[0].numpy()

    def predict(self, img: np.ndarray) -> np.ndarray:
        """(H, W, C) image (RGB order, any dtype) -> (H, W) uint8 class ids."""
        data = self.transforms({"img": img.astype(np.float32), "trans_info": []})
        x = paddle.to_tensor(data["img"][np.newaxis])
        with paddle.no_grad():
            if self.aug is not None:
                pred, _ = infer.aug_inference(self.model, x, trans_info=data["trans_info"], **self.aug, **self.slide)
            else:
                pred, _ = infer.inference(self.model, x, trans_info=data["trans_info"], **self.slide)
        return pred.numpy()[0, 0].astype(np.uint8)

    def predict_file(self, path: Path) -> Tuple[np.ndarray, np.ndarray, Optional[RasterMeta]]:
        """(image, labels, raster metadata or None); source nodata pixels get ``NODATA_LABEL``."""
        img, model_input, mask, meta = read_model_input(path, self.img_channels, self.nodata_fill())
        labels = self.predict(model_input)
        if mask is not None and meta.nodata is not None:
            labels[mask] = NODATA_LABEL
        return img, labels, meta


def output_paths(save_dir: Path, rel: Path) -> Dict[str, Path]:
    """Where the outputs of an input at relative path ``rel`` go (same stem everywhere)."""
    stem = rel.with_suffix(".png")
    return {"label": save_dir / "label" / stem, "pseudo_color": save_dir / "pseudo_color" / stem,
            "overlay": save_dir / "overlay" / stem, "geotiff": save_dir / "geotiff" / rel.with_suffix(".tif")}


def predict_folder(predictor: Predictor, image_path: str, save_dir: str, num_classes: int,
                   on_progress: Optional[Callable[[int, int], None]] = None,
                   tiling: Optional[Dict[str, int]] = None) -> PredictSummary:
    """Predict every image under ``image_path`` (recursively: jpg/png/bmp/tif).

    Writes ``label/`` (submission-ready palette PNGs whose pixel values are class ids),
    ``pseudo_color/`` and ``overlay/`` under ``save_dir``, keeping sub-folders and file stems; for a
    tif also ``geotiff/NAME.tif`` with the source's CRS, transform and nodata and a colour table.
    With ``tiling`` ({tile, overlap, batch_size}) a tif is predicted as a scene in tiles and only its
    ``geotiff/`` output is written (PNGs of a 20,000-pixel scene would not fit the point of tiling).
    A file that fails is reported in the summary and the others are still written.
    """
    from tqdm import tqdm

    if tiling and (predictor.aug is not None or predictor.slide["is_slide"]):
        raise ValueError("tiled scene prediction does not combine with test-time augmentation or is_slide; "
                         "turn those off or predict without --tile")
    root = Path(image_path)
    files = list_images(root)
    base = root if root.is_dir() else root.parent
    out = Path(save_dir)
    table = palette(num_classes)
    flat_palette = table.reshape(-1).tolist()
    summary = PredictSummary()
    start = time.time()
    claimed: Dict[Path, Path] = {}  # output label path -> the input that produces it
    for i, path in enumerate(tqdm(files, desc="predict", unit="img", disable=None)):
        try:
            targets = output_paths(out, path.relative_to(base))
            if targets["label"] in claimed:
                raise ValueError(f"same folder and stem as {claimed[targets['label']].name}: "
                                 f"outputs would overwrite each other")
            claimed[targets["label"]] = path
            if tiling and str(path).lower().endswith(RASTER_EXTS):
                from .tiled import predict_scene

                predict_scene(predictor.logits, predictor.preprocess, str(path), str(targets["geotiff"]),
                              num_classes, colormap=label_colormap(table, num_classes),
                              nodata_fill=predictor.nodata_fill(), **tiling)
                summary.written.append(targets["geotiff"])
                continue
            img, label, meta = predictor.predict_file(path)
            if meta is not None:  # tif in: also a label GeoTIFF in the same place on the ground
                write_label_raster(targets["geotiff"], label, meta, label_colormap(table, num_classes),
                                   nodata=NODATA_LABEL if meta.nodata is not None else None)
            write_png(targets["label"], label, palette=flat_palette)
            write_png(targets["pseudo_color"], colorize(label, table))
            write_png(targets["overlay"], overlay(img, label, table))
            summary.written.append(targets["label"])
        except Exception as exc:  # one broken file must not stop the folder
            logger.error("skipping %s: %s", path, exc)
            summary.failed.append((path, str(exc)))
        if on_progress:
            on_progress(i + 1, len(files))
    summary.seconds = time.time() - start
    return summary
