"""Label PNGs are written unfiltered by paddle_segformer.io.image (Pillow and OpenCV cannot be told to):
every reader sees the same pixels and palette as before, the files are valid PNGs, and bad palettes are
refused."""
import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from paddle_segformer.io.image import PNG_SIGNATURE, encode_png


def _labels(shape, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, shape).astype(np.uint8)


@pytest.mark.parametrize("shape, classes", [((1, 1), 2), ((3, 7), 5), ((64, 48), 150), ((512, 512), 4)])
def test_grey_labels_read_back_by_pillow_and_opencv(shape, classes):
    labels = _labels(shape, classes)
    data = encode_png(labels)
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as img:
        img.verify()  # chunk CRCs and structure
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "L"
        np.testing.assert_array_equal(np.asarray(img), labels)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), labels)


def test_palette_labels_keep_indices_and_colours():
    labels = _labels((33, 20), 6, seed=1)
    palette = list(np.random.default_rng(2).integers(0, 256, 256 * 3))
    data = encode_png(labels, palette=palette)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "P"
        np.testing.assert_array_equal(np.asarray(img), labels)
        assert img.getpalette() == palette
    colours = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(colours, np.asarray(palette, np.uint8).reshape(-1, 3)[labels])


def test_rows_are_unfiltered_and_smaller_than_pillows():
    """Every row starts with filter type 0; on near-random labels that beats Pillow's adaptive filters."""
    labels = _labels((128, 128), 150, seed=3)
    data = encode_png(labels)
    idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(128, 129)
    assert (rows[:, 0] == 0).all()
    buf = io.BytesIO()
    Image.fromarray(labels, mode="L").save(buf, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
    assert len(data) < len(buf.getvalue())


@pytest.mark.parametrize("palette", [[0, 0], [0] * 771, [0, 0, 256], [-1, 0, 0]])
def test_bad_palettes_are_refused(palette):
    with pytest.raises(ValueError, match="PNG palette"):
        encode_png(np.zeros((2, 2), np.uint8), palette=palette)


def test_rgb_still_by_pillow():
    rgb = np.random.default_rng(4).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    with Image.open(io.BytesIO(encode_png(rgb))) as img:
        assert img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), rgb)
