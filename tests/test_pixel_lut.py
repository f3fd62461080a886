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
