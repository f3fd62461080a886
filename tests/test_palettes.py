"""Pseudo-colour pictures: the packed lookup gives ``table[label]`` exactly."""
import numpy as np
import pytest

from paddle_segformer.report.palettes import colorize, palette


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64])
@pytest.mark.parametrize("shape", [(37, 53), (1, 9), (512, 512), (0, 4)])
def test_colorize_is_a_table_lookup(dtype, shape):
    rng = np.random.default_rng(1)
    label = rng.integers(0, 256, shape).astype(dtype)
    table = palette([(1, 2, 3), (250, 128, 7)])
    got = colorize(label, table)
    assert got.shape == shape + (3,) and got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, table[label.astype(np.int64)])


def test_colorize_clips_ids_outside_a_byte():
    table = palette()
    label = np.array([[-5, 0, 300, 255]], np.int32)
    np.testing.assert_array_equal(colorize(label, table), table[[[0, 0, 255, 255]]])


def test_colorize_with_a_short_table_refuses_unknown_ids():
    table = palette()[:4]
    np.testing.assert_array_equal(colorize(np.array([[3, 0]], np.uint8), table), table[[[3, 0]]])
    with pytest.raises(IndexError):
        colorize(np.array([[4]], np.uint8), table)
