"""Predict single images with a model: through a fast runtime (paddle_segformer.inference.backends)
when one is given, else on Paddle's dynamic graph through ``paddleseg.core.infer``, which also does
test-time augmentation and sliding windows. Which of the two is decided in
:mod:`paddle_segformer.inference.choice`, not here."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import paddle
from paddleseg.core import infer
from paddleseg.transforms import Compose

from ..data.transforms import check_depth, depth_problem
from ..io.raster import RasterMeta, read_model_input
from .backends import Backend
from .memory import DYNAMIC, MemoryBudget, MemoryGuard, MemoryRefused, ModelShape, tile_overlap
from .options import InferenceOptions
from .pixel_lut import PixelLUT
from .scores import SCORE_NODATA, scores_of
from .tiled import Tiling, predict_array
from .upsample import upsample_labels, upsample_logits

logger = logging.getLogger(__name__)

PIXELWISE = ("Normalize", "BandNormalize")
NODATA_LABEL = 255  # the default; build_predictor sets the config's ignore index


@dataclass
class Loaded:
    """A file made ready for the model: the image as read (for overlays), the eval-transformed input
    (C, h, w) with the transforms' ``trans_info``, the source nodata mask and raster metadata."""

    image: np.ndarray
    chw: np.ndarray
    trans_info: list
    mask: Optional[np.ndarray]
    meta: Optional[RasterMeta]
    source: str = "image"


class Predictor:
    """Wraps a model and its eval transforms. ``predict(img)`` -> (H, W) class ids (int32).

    With a ``backend`` (see :func:`~paddle_segformer.inference.backends.start_runtime`) predictions run
    through it, else on ``model`` through PaddleSeg's ``infer``, which also does test-time augmentation and
    sliding windows (``options``, an :class:`~paddle_segformer.inference.options.InferenceOptions`); a backend
    with those is refused (:func:`~paddle_segformer.inference.choice.choose_runtime` never pairs them).
    """

    def __init__(self, model: paddle.nn.Layer, transforms: Sequence, img_channels: int = 3,
                 options: Optional[InferenceOptions] = None, backend: Optional[Backend] = None):
        self.model = model
        self.model.eval()
        self.img_channels = img_channels
        self.transforms = Compose(list(transforms), to_rgb=False, img_channels=img_channels)
        options = options or InferenceOptions()
        self.slide = options.slide  # a dict of its own: evaluation may switch the window on per dataset
        self.aug = options.aug
        self.backend: Optional[Backend] = None
        self.attach(backend)
        self.lut = PixelLUT.of(self.transforms.transforms, img_channels)  # None unless only Normalize
        # a 16-bit / float image is refused when the transforms assume 0..255 (never rescaled silently)
        self.depth_problem = depth_problem(list(transforms), "val_dataset.transforms")
        self.nodata_label = NODATA_LABEL  # label of source nodata pixels: the dataset's ignore index
        self.class_colours: Optional[List[Tuple[int, int, int]]] = None  # the dataset's, for the outputs
        self.guard: Optional[MemoryGuard] = None  # see set_memory_budget
        self.tiling: Optional[Tiling] = None

    def attach(self, backend: Optional[Backend]) -> None:
        """Run forward passes through ``backend`` (None: the model through PaddleSeg); a backend with
        test-time augmentation / sliding windows is refused. Separate from the constructor so that the
        runtime can start after the predictor exists (int8 calibrates with :meth:`load`)."""
        if backend is not None and not self.plain:
            raise ValueError(f"the {backend.name} runtime cannot run test-time augmentation / sliding windows: "
                             "they run on the model through PaddleSeg's infer (see inference.choice)")
        self.backend = backend

    def set_memory_budget(self, budget: MemoryBudget, tiling: Optional[Tiling] = None) -> None:
        """Inputs whose forward pass would exceed ``budget`` are predicted in tiles (``tiling``, else the
        largest tile that fits) or, where tiling is impossible, refused before the pass
        (:meth:`predict_within_budget`). Call after the backend is set: the estimate is the runtime's."""
        self.guard = MemoryGuard(ModelShape.of_model(self.model), budget, self.runtime)
        self.tiling = tiling

    @property
    def runtime(self) -> str:
        """What runs the forward passes: the backend's name, or ``dynamic`` (the model through PaddleSeg)."""
        return self.backend.name if self.backend is not None else DYNAMIC

    @property
    def plain(self) -> bool:
        """True when predictions need no test-time augmentation or sliding window."""
        return self.aug is None and not self.slide["is_slide"]

    def preprocess(self, img: np.ndarray) -> np.ndarray:
        """Raw (h, w, C) -> normalised float32 (h, w, C); only for pixel-wise transforms (tiling)."""
        if self.lut is not None and self.lut.applies(img):
            return self.lut.hwc(img)
        check_depth(img.dtype, self.depth_problem, "the scene")
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
        if self.backend is not None:
            return upsample_logits(self.backend(batch), batch.shape[2:], self.backend.align_corners)
        with paddle.no_grad():
            return self.model(paddle.to_tensor(batch))[0].numpy()

    def predict(self, img: np.ndarray) -> np.ndarray:
        """(H, W, C) image (RGB order, any dtype) -> (H, W) int32 class ids."""
        return self.predict_transformed(*self._transform(img))

    def _transform(self, img: np.ndarray) -> Tuple[np.ndarray, list]:
        """(H, W, C) image -> eval-transformed (C, h, w) float32 input and the transforms' ``trans_info``."""
        if self.lut is not None and self.lut.applies(img):
            return self.lut.chw(img), []
        data = self.transforms({"img": img.astype(np.float32), "trans_info": []})
        return data["img"], data["trans_info"]

    def predict_transformed(self, chw: np.ndarray, trans_info: list) -> np.ndarray:
        """Eval-transformed (C, h, w) input -> (H, W) int32 class ids at the size before the transforms."""
        if self.backend is None:
            x = paddle.to_tensor(chw[np.newaxis])
            with paddle.no_grad():
                if self.aug is not None:
                    pred, _ = infer.aug_inference(self.model, x, trans_info=trans_info, **self.aug, **self.slide)
                else:
                    pred, _ = infer.inference(self.model, x, trans_info=trans_info, **self.slide)
            return pred.numpy()[0, 0].astype(np.int32)
        size, align = chw.shape[1:], self.backend.align_corners
        if not trans_info:  # the kernel reads the runtime's own logits (bf16 ones too)
            return upsample_labels(self.backend.label_logits(chw[np.newaxis])[0], size, align)
        low = self.backend(chw[np.newaxis])[0]
        # resizing / padding transforms: undo them on the logits, as paddleseg.core.infer does
        full = paddle.to_tensor(upsample_logits(low, size, align)[np.newaxis])
        logit = infer.reverse_transform(full, trans_info, mode="bilinear")
        return paddle.argmax(logit, axis=1).numpy()[0].astype(np.int32)

    def load(self, path: Path) -> Loaded:
        """Read and transform a file for :meth:`labels` (separate, so that a folder loop does it ahead on
        another thread)."""
        # the raw pixels unless nodata was filled: the lookup table takes uint8
        image, model_input, mask, meta = read_model_input(path, self.img_channels, self.nodata_fill(), raw=True)
        check_depth(image.dtype, self.depth_problem, path)
        return Loaded(image, *self._transform(model_input), mask, meta, str(path))

    def forward_size(self, size: Tuple[int, int]) -> Tuple[int, int]:
        """(h, w) of the largest single forward pass for an eval-transformed input of ``size``: a sliding
        window's crop, or the input at the largest test-time scale."""
        h, w = size
        if self.slide["is_slide"]:
            crop_w, crop_h = self.slide["crop_size"]
            return min(h, crop_h), min(w, crop_w)
        scale = max(np.atleast_1d(self.aug["scales"])) if self.aug is not None else 1.0
        return int(round(h * scale)), int(round(w * scale))

    def tiling_for(self, chw: np.ndarray, trans_info: list, source: str = "image") -> Optional[Tiling]:
        """None when one forward pass of ``chw`` (C, h, w) fits the memory budget, else the tiles to use
        (one log line says why). Raises :class:`MemoryRefused` when it cannot be tiled."""
        if self.guard is None:
            return None
        h, w = self.forward_size(chw.shape[1:])
        plan = self.guard.plan(h, w)
        if plan.fits:
            return None
        if not self.plain or trans_info:
            why = ("test-time augmentation / sliding window" if not self.plain
                   else "eval transforms that resize or pad")
            raise MemoryRefused(f"{plan.reason(h, w)}, and {why} cannot be combined with tiling: "
                                f"not predicted (turn that off, or raise --max_memory)")
        tiling = self.tiling
        if tiling is None:
            tile = self.guard.tile_size()
            tiling = Tiling(tile, tile_overlap(tile))
        elif not self.guard.plan(min(h, tiling.tile), min(w, tiling.tile), tiling.batch_size).fits:
            logger.warning("%s: tiles of %d px (--tile) are themselves over the memory budget; tiles of at most "
                           "%d px would fit", source, tiling.tile, self.guard.largest_side())
        logger.info("%s: %s: predicted in tiles of %d px, overlap %d, logits blended", source,
                    plan.reason(h, w), tiling.tile, tiling.overlap)
        return tiling

    def predict_within_budget(self, chw: np.ndarray, trans_info: list, source: str = "image") -> np.ndarray:
        """:meth:`predict_transformed`, in tiles when one pass would exceed the memory budget."""
        tiling = self.tiling_for(chw, trans_info, source)
        if tiling is None:
            return self.predict_transformed(chw, trans_info)
        return predict_array(self.logits, chw, self.model.num_classes, tiling)

    def labels(self, loaded: Loaded) -> np.ndarray:
        """Class ids of a loaded file; source nodata pixels get ``nodata_label``."""
        labels = self.predict_within_budget(loaded.chw, loaded.trans_info, loaded.source)
        nodata = _nodata_mask(loaded)
        if nodata is not None:
            labels[nodata] = self.nodata_label
        return labels

    def labels_and_scores(self, loaded: Loaded) -> Tuple[np.ndarray, np.ndarray]:
        """:meth:`labels` and the (H, W) uint8 scores of the same logits (:func:`.scores.scores_of`; nodata
        pixels :data:`.scores.SCORE_NODATA`). Only for plain prediction (no test-time augmentation, sliding
        window or resizing eval transforms): the scores are those of the logits the labels come from."""
        if not self.plain or loaded.trans_info:
            raise ValueError("--save_scores needs plain prediction: no test-time augmentation, sliding window "
                             "or eval transforms that resize or pad")
        chw = loaded.chw
        tiling = self.tiling_for(chw, loaded.trans_info, loaded.source)
        if tiling is not None:
            labels, scores = predict_array(self.logits, chw, self.model.num_classes, tiling, scores=True)
        elif self.backend is not None:  # the labels by the kernel, exactly as without scores
            low = self.backend.label_logits(chw[np.newaxis])[0]
            labels = upsample_labels(low, chw.shape[1:], self.backend.align_corners)
            scores = scores_of(upsample_logits(low, chw.shape[1:], self.backend.align_corners))
        else:
            logits = self.logits(chw[np.newaxis])[0]
            labels, scores = np.argmax(logits, axis=0).astype(np.int32), scores_of(logits)
        nodata = _nodata_mask(loaded)
        if nodata is not None:
            labels[nodata], scores[nodata] = self.nodata_label, SCORE_NODATA
        return labels, scores


def _nodata_mask(loaded: Loaded) -> Optional[np.ndarray]:
    """(H, W) bool: the source's nodata pixels, when the source declares nodata; else None."""
    if loaded.mask is not None and loaded.meta is not None and loaded.meta.nodata is not None:
        return loaded.mask
    return None
