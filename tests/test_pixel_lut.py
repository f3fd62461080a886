"""The Normalize lookup table gives PaddleSeg's values exactly, and only where it applies."""
import numpy as np
import pytest
from paddleseg.transforms import Compose, Normalize, Resize

from paddle_segformer.data.transforms import BandNormalize
from paddle_segformer.inference.pixel_lut import PixelLUT


def _paddleseg(transforms, img):
    return Compose(list(transforms), to_rgb=False, img_channels=img.shape[2])(
        {"img": img.astype(np.float32), "trans_info": []})["img"]


@pytest.mark.parametrize("transforms, channels", [
    ([Normalize()], 3),
    ([Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])], 3),
    ([Normalize(mean=[0.1, 0.2, 0.3, 0.4], std=[0.5, 0.6, 0.7, 0.8])], 4),
    ([Normalize(), Normalize(mean=[0.3] * 3, std=[2.0] * 3)], 3),
    ([Normalize(mean=[0.4], std=[0.3])], 1),
    ([Normalize(mean=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], std=[0.5] * 6)], 6),
])
def test_table_equals_paddleseg(transforms, channels):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
    img[0, :channels] = [0] * channels  # both ends of the range present
    img[1, :channels] = [255] * channels
    lut = PixelLUT.of(transforms, channels)
    assert lut is not None and lut.applies(img)
    expected = _paddleseg(transforms, img)
    np.testing.assert_array_equal(lut.chw(img), expected)  # bit for bit, not approximately
    np.testing.assert_array_equal(lut.hwc(img), expected.transpose(1, 2, 0))


def test_only_where_it_applies():
    assert PixelLUT.of([Resize((8, 8)), Normalize()], 3) is None  # not pixel-wise
    assert PixelLUT.of([BandNormalize(mean=[1.0] * 3, std=[2.0] * 3)], 3) is None  # not PaddleSeg's
    assert PixelLUT.of([], 3) is None
    lut = PixelLUT.of([Normalize()], 3)
    assert not lut.applies(np.zeros((4, 4, 3), np.uint16))  # 16-bit: 65536 values, no table
    assert not lut.applies(np.zeros((4, 4, 3), np.float32))  # nodata-filled input
    assert not lut.applies(np.zeros((4, 4, 4), np.uint8))  # other band count


def test_predictor_loads_through_the_table_with_paddlesegs_values(tmp_path):
    import cv2

    from paddle_segformer.inference.predictor import Predictor
    from paddle_segformer.models.backbone import mit
    from paddle_segformer.models.segformer import SegFormer

    rng = np.random.default_rng(1)
    path = tmp_path / "tile.png"
    cv2.imwrite(str(path), rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))
    predictor = Predictor(SegFormer(4, mit("b0")), [Normalize()])
    assert predictor.lut is not None
    fast = predictor.load(path)
    predictor.lut = None
    slow = predictor.load(path)
    np.testing.assert_array_equal(fast.chw, slow.chw)
    np.testing.assert_array_equal(predictor.preprocess(fast.image), fast.chw.transpose(1, 2, 0))


def test_raw_model_input_is_the_pixels_unless_nodata_was_filled(tmp_path):
    """predict reads a JPG / PNG's pixels once (no float32 copy for the table to ignore); a raster with nodata
    pixels gets its float32 input with the fill, as training sees it."""
    import cv2
    import rasterio

    from paddle_segformer.io.raster import read_model_input

    png = tmp_path / "tile.png"
    cv2.imwrite(str(png), np.random.default_rng(2).integers(0, 256, (8, 9, 3), dtype=np.uint8))
    image, model_input, mask, _ = read_model_input(png, 3, np.zeros(3, np.float32), raw=True)
    assert model_input is image and image.dtype == np.uint8 and mask is None
    assert read_model_input(png, 3)[1].dtype == np.float32
    tif = tmp_path / "scene.tif"
    pixels = np.full((2, 6, 5), 7, np.uint16)
    pixels[1, 2, 3] = 0
    with rasterio.open(tif, "w", driver="GTiff", width=5, height=6, count=2, dtype="uint16", nodata=0) as dst:
        dst.write(pixels)
    image, model_input, mask, _ = read_model_input(tif, 2, np.array([40.0, 50.0], np.float32), raw=True)
    assert image.dtype == np.uint16 and model_input.dtype == np.float32 and mask.sum() == 1
    np.testing.assert_array_equal(model_input[2, 3], [40.0, 50.0])
    image, model_input, _, _ = read_model_input(tif, 2, None, raw=True)  # nothing to fill: the pixels
    assert model_input is image
