"""PaddleSeg's ``Normalize`` on 8-bit images as a lookup table: the same float32 values, 10x faster.

``Normalize`` maps each band's value on its own, ``(x / 255 - mean) / std``. An 8-bit band has only 256
values, so the table is made once by running PaddleSeg's own transform on a ramp 0..255 (whatever its
float rounding, the table holds exactly its results), and an image is then normalised by one
``cv2.LUT`` per band: 0.3 ms against 4.4 ms for a 512 x 512 RGB image on this project's CPU. In a
folder prediction that is CPU time the reader thread no longer takes from the model's threads.
Anything else (other transforms, 16-bit or float pixels) goes through PaddleSeg's code as before.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


class PixelLUT:
    """Per-band tables (C, 256) float32 of a chain of ``Normalize`` transforms."""

    def __init__(self, table: np.ndarray):
        self.table = np.ascontiguousarray(table, dtype=np.float32)

    @classmethod
    def of(cls, transforms: Sequence, channels: int) -> Optional["PixelLUT"]:
        """The table of ``transforms`` when every one is exactly PaddleSeg's ``Normalize``, else None."""
        from paddleseg.transforms import Normalize

        if not transforms or any(type(op) is not Normalize for op in transforms):
            return None
        ramp = np.repeat(np.arange(256, dtype=np.float32)[None, :, None], channels, axis=2)  # (1, 256, C)
        data = {"img": ramp, "trans_info": []}
        for op in transforms:
            data = op(data)
        return cls(data["img"][0].T)

    def applies(self, img: np.ndarray) -> bool:
        """True for an (H, W, C) uint8 image with the table's band count."""
        return img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == self.table.shape[0]

    def chw(self, img: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 -> normalised (C, H, W) float32."""
        import cv2

        out = np.empty((img.shape[2],) + img.shape[:2], np.float32)
        # cv2.split makes each band contiguous (cv2.LUT wants that) at once; np.take is 4x slower. 512^2 RGB:
        # 0.29 ms, against 0.76 ms copying each band out of the interleaved image first
        for c, band in enumerate(cv2.split(img) if img.shape[2] > 1 else [img[:, :, 0]]):
            written = cv2.LUT(band, self.table[c], dst=out[c])
            if written.ctypes.data != out[c].ctypes.data:  # OpenCV made its own array after all
                out[c] = written
        return out

    def hwc(self, img: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 -> normalised (H, W, C) float32."""
        import cv2

        if img.shape[2] in (3, 4):  # one pass over the interleaved pixels, a table per band
            return cv2.LUT(np.ascontiguousarray(img), np.ascontiguousarray(self.table.T[:, None, :]))
        return np.ascontiguousarray(self.chw(img).transpose(1, 2, 0))
