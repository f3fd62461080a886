"""Logits cross between channel-first and channel-last memory by compiled copies (paddle_segformer.ops.layout):
the values are numpy's transposes, a view is handed back when the memory already fits, and every reader of
logits (label kernel, resize) gives the same results for both layouts."""
import numpy as np
import pytest

from paddle_segformer.inference.upsample import upsample_labels, upsample_logits
from paddle_segformer.ops.layout import channels_first, channels_last


def _logits(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _as_channel_last_view(x):
    """The same values as ``x`` (..., K, h, w), stored channel-last (as OpenVINO's backend returns them)."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, -3, -1)), -1, -3)


@pytest.mark.parametrize("shape", [(150, 13, 21), (2, 7, 9, 5), (1, 4, 1, 6), (3, 1, 1)])
def test_copies_are_numpys_transposes(shape):
    x = _logits(shape)
    last = channels_last(x)
    assert last.flags.c_contiguous and last.dtype == np.float32
    np.testing.assert_array_equal(last, np.moveaxis(x, -3, -1))
    first = channels_first(_as_channel_last_view(x))
    assert first.flags.c_contiguous
    np.testing.assert_array_equal(first, x)


def test_views_are_handed_back_without_copies():
    x = _logits((2, 5, 6, 7))
    view = _as_channel_last_view(x)
    assert np.shares_memory(channels_last(view), view)
    assert channels_first(x) is x
    other = np.asfortranarray(x)  # neither layout: numpy's copy, same values
    np.testing.assert_array_equal(channels_first(other), x)
    np.testing.assert_array_equal(channels_last(x.astype(np.float64)), np.moveaxis(x, -3, -1))


@pytest.mark.parametrize("align_corners", [False, True])
def test_readers_agree_across_layouts(align_corners):
    low = _logits((19, 13, 21), seed=4)
    view = _as_channel_last_view(low)
    np.testing.assert_array_equal(upsample_labels(view, (50, 83), align_corners),
                                  upsample_labels(low, (50, 83), align_corners))
    np.testing.assert_array_equal(upsample_logits(_as_channel_last_view(low[None]), (50, 83), align_corners),
                                  upsample_logits(low[None], (50, 83), align_corners))
