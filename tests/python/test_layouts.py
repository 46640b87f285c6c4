"""Layouts, unbatched inputs, and inputs that are not plain C-contiguous
native arrays (views, negative strides, misaligned, Fortran, byte-swapped,
nested lists): all give the same results."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import assert_close, random_array

CONFIGS = [  # (C, G, K, kernel, stride, padding, dilation)
    (16, 1, 8, 3, 1, 1, 1),
    (12, 4, 8, 3, 2, "same", 1),
    (32, 2, 32, 3, 1, 1, 1),
    (8, 8, 16, 3, 1, 1, 2),
    (24, 24, 24, 5, 2, 2, 1),
    (16, 4, 16, 1, 1, 0, 1),
]
CONFIG_IDS = [f"c{c}g{g}k{k}r{r}s{s}p{p}d{d}".replace("same", "S") for c, g, k, r, s, p, d in CONFIGS]


def _kwargs(cfg):
    c, g, k, r, s, p, d = cfg
    return dict(stride=s, padding=p, dilation=d, groups=g)


def _data(cfg, dtype, seed=0):
    c, g, k, r, s, p, d = cfg
    x = random_array((3, c, 11, 9), dtype, seed)
    w = random_array((k, c // g, r, r), dtype, seed + 1)
    b = random_array((k,), dtype, seed + 2)
    return x, w, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_nhwc_equals_nchw_transposed(cfg, dtype):
    x, w, b = _data(cfg, dtype)
    nchw = gconv.conv2d(x, w, b, **_kwargs(cfg))
    nhwc = gconv.conv2d(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, b, **_kwargs(cfg), layout="NHWC")
    assert nhwc.flags.c_contiguous
    assert_close(nhwc.transpose(0, 3, 1, 2), reference.conv2d(x, w, b, **_kwargs(cfg)), dtype, f"NHWC {cfg}")
    np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), nchw, rtol=1e-4 if dtype == "float32" else 1e-10,
                               atol=1e-4 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_unbatched_input_gives_unbatched_output_equal_to_batch_of_one(cfg, layout):
    x, w, b = _data(cfg, np.float32)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    batched = gconv.conv2d(x[:1], w, b, **_kwargs(cfg), layout=layout)
    unbatched = gconv.conv2d(x[0], w, b, **_kwargs(cfg), layout=layout)
    assert unbatched.shape == batched.shape[1:]
    assert_close(unbatched, reference.conv2d(x[0], w, b, **_kwargs(cfg), layout=layout), np.float32,
                 f"unbatched {cfg} {layout}")


def _misaligned(a):
    """A copy of ``a`` whose data pointer is offset by one byte from any alignment."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    view = raw[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert view.ctypes.data % a.dtype.itemsize != 0
    return view


def _strided(a):
    """A view of a copy of ``a`` with every other element of the last axis."""
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def _negative(a):
    """A view of a copy of ``a`` whose first two axes run backwards in memory."""
    return np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1]


def _byte_swapped(a):
    return a.astype(a.dtype.newbyteorder(">" if np.little_endian else "<"))


def _variants(x):
    """(name, equivalent array) for awkward memory layouts of the 4-D array ``x``."""
    return [
        ("strided_width", _strided(x)),
        ("negative_strides", _negative(x)),
        ("fortran_order", np.asfortranarray(x)),
        ("channels_last_memory", np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)),
        ("misaligned", _misaligned(x)),
        ("byte_swapped", _byte_swapped(x)),
        ("nested_lists", x.tolist() if x.dtype == np.float64 else None),
        ("read_only", np.frombuffer(x.tobytes(), x.dtype).reshape(x.shape)),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", range(8), ids=[n for n, _ in _variants(np.zeros((1, 1, 1, 1)))])
@pytest.mark.parametrize("cfg", CONFIGS[:5], ids=CONFIG_IDS[:5])
def test_awkward_input_memory_gives_the_same_result(cfg, variant, dtype):
    x, w, b = _data(cfg, dtype)
    name, x_odd = _variants(x)[variant]
    if x_odd is None:
        pytest.skip("nested lists are float64")
    expected = gconv.conv2d(x, w, b, **_kwargs(cfg))
    got = gconv.conv2d(x_odd, w, b, **_kwargs(cfg))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, expected, err_msg=f"{name} {cfg} {dtype}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", range(8), ids=[n for n, _ in _variants(np.zeros((1, 1, 1, 1)))])
def test_awkward_weight_and_bias_memory_gives_the_same_result(variant, dtype):
    cfg = CONFIGS[1]
    x, w, b = _data(cfg, dtype)
    name, w_odd = _variants(w)[variant]
    if w_odd is None:
        pytest.skip("nested lists are float64")
    b_odd = _misaligned(b) if variant % 2 else _strided(b)
    expected = gconv.conv2d(x, w, b, **_kwargs(cfg))
    np.testing.assert_array_equal(gconv.conv2d(x, w_odd, b_odd, **_kwargs(cfg)), expected, err_msg=name)
    plan = gconv.Conv2d(w_odd, b_odd, **_kwargs(cfg))
    np.testing.assert_array_equal(plan(x), expected, err_msg=f"Conv2d {name}")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_awkward_inputs_for_depthwise_global_and_shuffle(layout):
    x = random_array((2, 8, 6, 6), np.float32, 1)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    wd = random_array((16, 1, 3, 3), np.float32, 2)
    wg = random_array((8, 1, 6, 6), np.float32, 3)
    for name, x_odd in [("strided", _strided(x)), ("misaligned", _misaligned(x)),
                        ("negative", _negative(x)), ("byte_swapped", _byte_swapped(x))]:
        np.testing.assert_array_equal(gconv.depthwise_conv2d(x_odd, wd, padding=1, layout=layout),
                                      gconv.depthwise_conv2d(x, wd, padding=1, layout=layout), err_msg=name)
        np.testing.assert_array_equal(gconv.global_depthwise_conv2d(x_odd, wg, layout=layout),
                                      gconv.global_depthwise_conv2d(x, wg, layout=layout), err_msg=name)
        np.testing.assert_array_equal(gconv.global_avg_pool2d(x_odd, layout=layout),
                                      gconv.global_avg_pool2d(x, layout=layout), err_msg=name)
        np.testing.assert_array_equal(gconv.channel_shuffle(x_odd, 2, layout=layout),
                                      gconv.channel_shuffle(x, 2, layout=layout), err_msg=name)


def test_non_contiguous_input_is_not_modified():
    base = random_array((2, 8, 6, 12), np.float32, 1)
    keep = base.copy()
    gconv.conv2d(base[..., ::2], random_array((8, 2, 3, 3), np.float32, 2), groups=4, padding=1)
    np.testing.assert_array_equal(base, keep)
