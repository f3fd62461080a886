"""The fast JPEG decode (Pillow) gives exactly OpenCV's pixels; what Pillow does not take goes to OpenCV."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from paddle_segformer.io import decode
from paddle_segformer.io.decode import decode_image
from paddle_segformer.io.image import read_image


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture with edges: chroma detail is what the decoders' upsampling could disagree on."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 9), max(2, width // 7), 3), dtype=np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img[height // 3: height // 2, :: 5] = (255, 0, 40)  # sharp coloured stripes
    return img


def _pillow_jpeg(img: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", **options)
    return buf.getvalue()


def _opencv_jpeg(img: np.ndarray, *params: int) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), list(params))[1].tobytes()


def _exif_rotated(img: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    return _pillow_jpeg(img, exif=exif.tobytes())


CASES = {
    "pillow 4:2:0 q75": lambda img: _pillow_jpeg(img),
    "pillow 4:4:4 q95": lambda img: _pillow_jpeg(img, quality=95, subsampling=0),
    "pillow 4:2:2 q50": lambda img: _pillow_jpeg(img, quality=50, subsampling=1),
    "pillow progressive optimised": lambda img: _pillow_jpeg(img, progressive=True, optimize=True),
    "pillow restart markers": lambda img: _pillow_jpeg(img, restart_marker_blocks=3),
    "pillow exif orientation": _exif_rotated,
    "pillow grey": lambda img: _pillow_jpeg(img[:, :, 1].copy()),
    "opencv default": lambda img: _opencv_jpeg(img),
    "opencv q30 restart interval": lambda img: _opencv_jpeg(img, cv2.IMWRITE_JPEG_QUALITY, 30,
                                                            cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
    "opencv progressive": lambda img: _opencv_jpeg(img, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
}


@pytest.mark.parametrize("size", [(256, 256), (131, 257), (17, 9)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_pillow_decodes_jpegs_as_opencv_does(case, size):
    data = CASES[case](_photo(*size))
    assert decode._pillow_jpeg(data) is not None  # the fast path really ran
    np.testing.assert_array_equal(decode_image(data, "jpeg"), decode._opencv(data))


def test_cmyk_jpeg_goes_to_opencv():
    buf = io.BytesIO()
    Image.fromarray(_photo(64, 48)).convert("CMYK").save(buf, "JPEG")
    data = buf.getvalue()
    assert decode._pillow_jpeg(data) is None
    np.testing.assert_array_equal(decode_image(data, "jpeg"), decode._opencv(data))


def test_what_pillow_cannot_open_goes_to_opencv(monkeypatch, tmp_path):
    img = _photo(40, 30)
    path = tmp_path / "a.jpg"
    path.write_bytes(_pillow_jpeg(img, quality=95))
    fast = read_image(path, 3)

    def refuse(*args, **kwargs):
        raise OSError("cannot identify image file")

    monkeypatch.setattr(Image, "open", refuse)
    np.testing.assert_array_equal(read_image(path, 3), fast)
    monkeypatch.undo()
    monkeypatch.setattr(decode, "PILLOW_MAX_PIXELS", 100)  # too large for Pillow: OpenCV
    assert decode._pillow_jpeg(path.read_bytes()) is None
    np.testing.assert_array_equal(read_image(path, 3), fast)


def test_read_image_returns_rgb_of_the_jpeg(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., 0] = 250  # red
    path = tmp_path / "red.jpg"
    path.write_bytes(_pillow_jpeg(img, quality=100, subsampling=0))
    got = read_image(path, 3)
    assert got.shape == (16, 16, 3) and got.dtype == np.uint8
    assert got[..., 0].min() > 240 and got[..., 1:].max() < 10
