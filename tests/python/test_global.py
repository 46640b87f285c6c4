"""Global depthwise convolution (GDC) and global average pooling."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import assert_close, covering_array, random_array

GDC_ROWS = covering_array({
    "shape": ((1, 8, 7, 7), (3, 19, 4, 6), (0, 5, 3, 3), (2, 1, 1, 1), (2, 64, 7, 7), (1, 33, 2, 9)),
    "multiplier": (1, 2, 3),
    "layout": ("NCHW", "NHWC"),
    "dtype": ("float32", "float64"),
    "bias": (False, True),
    "unbatched": (False, True),
}, seed=4)


def _gdc_data(row, seed):
    n, c, h, w = row["shape"]
    shape = (n, c, h, w) if row["layout"] == "NCHW" else (n, h, w, c)
    if row["unbatched"]:
        shape = shape[1:]
    x = random_array(shape, row["dtype"], seed)
    wt = random_array((c * row["multiplier"], 1, h, w), row["dtype"], seed + 1)
    b = random_array((c * row["multiplier"],), row["dtype"], seed + 2) if row["bias"] else None
    return x, wt, b


def _row_id(row):
    return "-".join(f"{k}={v}" for k, v in row.items()).replace(" ", "")


@pytest.mark.parametrize("index", range(len(GDC_ROWS)), ids=[_row_id(r) for r in GDC_ROWS])
def test_global_depthwise_conv2d_matches_reference(index):
    row = GDC_ROWS[index]
    x, w, b = _gdc_data(row, 100 + index)
    got = gconv.global_depthwise_conv2d(x, w, b, layout=row["layout"])
    ref = reference.global_depthwise_conv2d(x, w, b, layout=row["layout"])
    n, c, _, _ = row["shape"]
    m = row["multiplier"]
    channel_shape = (c * m, 1, 1) if row["layout"] == "NCHW" else (1, 1, c * m)
    expected_shape = (() if row["unbatched"] else (n,)) + channel_shape
    assert ref.shape == expected_shape
    assert_close(got, ref, row["dtype"], f"gdc {_row_id(row)}")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_global_depthwise_equals_grouped_conv2d_without_padding(layout):
    x = random_array((2, 12, 5, 6) if layout == "NCHW" else (2, 5, 6, 12), np.float32, 1)
    w = random_array((24, 1, 5, 6), np.float32, 2)
    gdc = gconv.global_depthwise_conv2d(x, w, layout=layout)
    conv = gconv.conv2d(x, w, groups=12, layout=layout)
    assert_close(gdc, reference.conv2d(x, w, groups=12, layout=layout), np.float32, "gdc vs conv2d")
    np.testing.assert_allclose(gdc, conv, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 16, 7, 7), (3, 5, 1, 9), (1, 40, 3, 4), (0, 3, 2, 2)])
def test_global_avg_pool2d_matches_reference(shape, dtype, layout):
    n, c, h, w = shape
    x = random_array(shape if layout == "NCHW" else (n, h, w, c), dtype, 3)
    got = gconv.global_avg_pool2d(x, layout=layout)
    assert got.shape == ((n, c, 1, 1) if layout == "NCHW" else (n, 1, 1, c))
    assert_close(got, reference.global_avg_pool2d(x, layout=layout), dtype, f"gap {shape} {layout} {dtype}")


def test_global_avg_pool2d_unbatched():
    x = random_array((6, 4, 5), np.float64, 4)
    got = gconv.global_avg_pool2d(x)
    assert got.shape == (6, 1, 1)
    assert_close(got, x.mean(axis=(1, 2), keepdims=True), np.float64, "gap unbatched")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gdc_with_uniform_weights_equals_global_avg_pool(dtype, layout):
    n, c, h, w = 3, 10, 6, 5
    x = random_array((n, c, h, w) if layout == "NCHW" else (n, h, w, c), dtype, 5)
    weight = np.full((c, 1, h, w), 1.0 / (h * w), dtype)
    gdc = gconv.global_depthwise_conv2d(x, weight, layout=layout)
    gap = gconv.global_avg_pool2d(x, layout=layout)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(gdc, gap, rtol=0, atol=tol)
