"""channel_shuffle: ShuffleNet's permutation."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import random_array


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels,groups", [(6, 2), (6, 3), (12, 4), (24, 8), (7, 7), (5, 1), (64, 16)])
def test_channel_shuffle_matches_reference(channels, groups, dtype, layout):
    shape = (3, channels, 4, 5) if layout == "NCHW" else (3, 4, 5, channels)
    x = random_array(shape, dtype, channels)
    got = gconv.channel_shuffle(x, groups, layout=layout)
    assert got.dtype == np.dtype(dtype) and got.shape == shape
    np.testing.assert_array_equal(got, reference.channel_shuffle(x, groups, layout=layout).astype(dtype))


def test_channel_shuffle_is_the_documented_permutation():
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    np.testing.assert_array_equal(gconv.channel_shuffle(x, 2).ravel(), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(gconv.channel_shuffle(x, 3).ravel(), [0, 2, 4, 1, 3, 5])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("channels,groups", [(12, 3), (12, 4), (16, 2), (30, 5)])
def test_shuffle_with_g_then_c_over_g_is_the_identity(channels, groups, layout):
    shape = (2, channels, 3, 3) if layout == "NCHW" else (2, 3, 3, channels)
    x = random_array(shape, np.float32, 1)
    once = gconv.channel_shuffle(x, groups, layout=layout)
    assert not np.array_equal(once, x)
    back = gconv.channel_shuffle(once, channels // groups, layout=layout)
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_channel_shuffle_unbatched(layout):
    x = random_array((8, 3, 2) if layout == "NCHW" else (3, 2, 8), np.float64, 2)
    got = gconv.channel_shuffle(x, 4, layout=layout)
    assert got.shape == x.shape
    np.testing.assert_array_equal(got, reference.channel_shuffle(x, 4, layout=layout))


def test_channel_shuffle_empty_batch_and_non_contiguous_input():
    assert gconv.channel_shuffle(np.zeros((0, 6, 2, 2), np.float32), 3).shape == (0, 6, 2, 2)
    base = random_array((2, 6, 4, 10), np.float32, 3)
    x = base[:, :, ::-1, ::2]
    np.testing.assert_array_equal(gconv.channel_shuffle(x, 2), reference.channel_shuffle(x, 2).astype(np.float32))
