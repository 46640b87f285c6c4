"""Every padding form, and the argument forms of stride, dilation and groups."""

import math

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import assert_close, random_array


def _conv(x, w, **kwargs):
    return gconv.conv2d(x, w, **kwargs)


@pytest.fixture
def data():
    x = random_array((2, 6, 9, 10), np.float32, 1)
    w = random_array((6, 3, 3, 3), np.float32, 2)
    return x, w


@pytest.mark.parametrize("short,explicit", [
    (1, ((1, 1), (1, 1))),
    ((2, 1), ((2, 2), (1, 1))),
    ([0, 3], ((0, 0), (3, 3))),
    ("valid", ((0, 0), (0, 0))),
    (np.int64(2), ((2, 2), (2, 2))),
    ((np.int32(1), 0), ((1, 1), (0, 0))),
])
def test_padding_forms_equal_their_per_side_pairs(data, short, explicit):
    x, w = data
    np.testing.assert_array_equal(_conv(x, w, padding=short, groups=2), _conv(x, w, padding=explicit, groups=2))


@pytest.mark.parametrize("pads", [((0, 2), (1, 0)), ((3, 0), (0, 0)), ((1, 2), (2, 1)), ((0, 0), (0, 4))])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_asymmetric_padding_equals_zero_padding_the_input(pads, layout):
    x = random_array((2, 6, 7, 8), np.float64, 3)
    w = random_array((6, 2, 3, 3), np.float64, 4)
    (pt, pb), (pl, pr) = pads
    padded = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    expected = reference.conv2d(padded, w, groups=3)
    xin = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = gconv.conv2d(xin, w, padding=pads, groups=3, layout=layout)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    assert_close(got, expected, np.float64, f"pads={pads} layout={layout}")


@pytest.mark.parametrize("stride", [1, 2, 3, (2, 3)])
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), (5, 2), (1, 1), (2, 3)])
@pytest.mark.parametrize("size", [(7, 8), (1, 5), (12, 11)])
def test_same_padding_output_size_is_ceil_of_input_over_stride(size, kernel, dilation, stride):
    h, w = size
    x = random_array((1, 4, h, w), np.float32, 5)
    wt = random_array((4, 2, kernel, kernel), np.float32, 6)
    got = gconv.conv2d(x, wt, stride=stride, padding="same", dilation=dilation, groups=2)
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    assert got.shape[2:] == (math.ceil(h / sh), math.ceil(w / sw))
    ref = reference.conv2d(x, wt, stride=stride, padding="same", dilation=dilation, groups=2)
    assert_close(got, ref, np.float32, f"same size={size} k={kernel} d={dilation} s={stride}")


def test_same_padding_stride2_puts_odd_pad_after():
    # 8 input, 3x3, stride 2: output 4, total pad (4-1)*2 + 3 - 8 = 1 -> (0, 1).
    x = random_array((1, 3, 8, 8), np.float32, 7)
    w = random_array((5, 3, 3, 3), np.float32, 8)
    same = gconv.conv2d(x, w, stride=2, padding="same")
    np.testing.assert_array_equal(same, gconv.conv2d(x, w, stride=2, padding=((0, 1), (0, 1))))
    assert not np.allclose(same, gconv.conv2d(x, w, stride=2, padding=((1, 0), (1, 0))))


def test_same_padding_stride1_even_kernel_puts_odd_pad_after():
    x = random_array((1, 2, 6, 6), np.float64, 9)
    w = random_array((2, 2, 4, 2), np.float64, 10)
    np.testing.assert_array_equal(gconv.conv2d(x, w, padding="same"),
                                  gconv.conv2d(x, w, padding=((1, 2), (0, 1))))


def test_same_padding_stride3_with_dilation():
    # 10 input, 3x3 dilation 2, stride 3: output 4, total (4-1)*3 + 5 - 10 = 4 -> (2, 2);
    # 11 input: output 4, total 3 -> (1, 2).
    x = random_array((1, 2, 10, 11), np.float64, 11)
    w = random_array((2, 2, 3, 3), np.float64, 12)
    np.testing.assert_array_equal(gconv.conv2d(x, w, stride=3, dilation=2, padding="same"),
                                  gconv.conv2d(x, w, stride=3, dilation=2, padding=((2, 2), (1, 2))))


def test_padding_larger_than_the_kernel_gives_bias_only_borders():
    x = random_array((1, 2, 3, 3), np.float32, 13)
    w = random_array((4, 1, 3, 3), np.float32, 14)
    b = np.arange(4, dtype=np.float32)
    got = gconv.conv2d(x, w, b, padding=4, groups=2)
    assert got.shape == (1, 4, 9, 9)
    np.testing.assert_array_equal(got[0, :, 0, 0], b)
    assert_close(got, reference.conv2d(x, w, b, padding=4, groups=2), np.float32, "padding 4 on 3x3")


@pytest.mark.parametrize("name,value", [
    ("stride", np.int64(2)), ("stride", (np.int16(1), np.uint8(2))), ("dilation", np.int32(2)),
    ("groups", np.int64(2)), ("stride", [2, 1]), ("dilation", (1, 2)),
])
def test_numpy_integers_and_lists_are_accepted(data, name, value):
    x, w = data
    kwargs = {"groups": 2, name: value}
    plain = {k: (v.item() if isinstance(v, np.generic) else
                 tuple(int(i) for i in v) if isinstance(v, (tuple, list)) else v) for k, v in kwargs.items()}
    np.testing.assert_array_equal(_conv(x, w, **kwargs), _conv(x, w, **plain))


@pytest.mark.parametrize("stride,dilation", [((1, 2), 1), ((3, 1), (1, 2)), (2, (2, 1))])
def test_per_axis_stride_and_dilation(stride, dilation):
    x = random_array((2, 8, 11, 12), np.float64, 15)
    w = random_array((8, 2, 3, 2), np.float64, 16)
    got = gconv.conv2d(x, w, stride=stride, dilation=dilation, padding=(1, 2), groups=4)
    assert_close(got, reference.conv2d(x, w, stride=stride, dilation=dilation, padding=(1, 2), groups=4),
                 np.float64, f"stride={stride} dilation={dilation}")
