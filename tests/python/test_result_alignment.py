"""Results gconv allocates itself start on a cache line (python/gconv/_alloc.py):
every NHWC vector store then stays within one line. Small results keep
NumPy's placement; either way a result is a plain, writable, C-contiguous
array of its own."""

import numpy as np
import pytest

import gconv
from gconv import _alloc


def _large_nhwc():
    x = np.random.default_rng(0).standard_normal((2, 24, 24, 64)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((64, 4, 3, 3)).astype(np.float32)
    return x, w


RESULTS = {
    "conv2d": lambda x, w: gconv.conv2d(x, w, groups=16, padding=1, layout="NHWC"),
    "Conv2d": lambda x, w: gconv.Conv2d(w, groups=16, padding=1, layout="NHWC")(x),
    "conv2d_input_grad": lambda x, w: gconv.conv2d_input_grad(
        x.shape, w, x, groups=16, padding=1, layout="NHWC"),
    "conv_transpose2d": lambda x, w: gconv.conv_transpose2d(
        x, w, groups=16, padding=1, layout="NHWC"),
    "conv1d": lambda x, w: gconv.conv1d(x.reshape(2, 576, 64), w[:, :, 1], groups=16,
                                        padding=1, layout="NLC"),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_large_results_start_on_a_cache_line(name):
    x, w = _large_nhwc()
    result = RESULTS[name](x, w)
    assert result.nbytes >= _alloc.ALIGNED_FROM_BYTES
    assert result.ctypes.data % _alloc.LINE_BYTES == 0, f"{name}: {result.ctypes.data % 64}"
    assert result.flags.c_contiguous and result.flags.writeable


def test_plan_results_are_separate_arrays():
    x, w = _large_nhwc()
    conv = gconv.Conv2d(w, groups=16, padding=1, layout="NHWC")
    first, second = conv(x), conv(x)
    assert not np.may_share_memory(first, second)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("shape,dtype", [((3, 5), np.float32), ((1,), np.float64),
                                         ((4, 100, 100), np.float32), ((0, 7), np.float64)])
def test_alloc_empty_gives_the_shape_and_dtype_asked(shape, dtype):
    a = _alloc.empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
    if a.nbytes >= _alloc.ALIGNED_FROM_BYTES:
        assert a.ctypes.data % _alloc.LINE_BYTES == 0
    a[...] = 1  # writable over its whole extent
    assert a.sum() == a.size
