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


# Large results (from _alloc.KEPT_FROM_BYTES) reuse the memory of an earlier
# one of the same size once nothing references it; the thresholds are
# lowered here so that small arrays exercise it.
@pytest.fixture
def small_pool(monkeypatch):
    monkeypatch.setattr(_alloc, "KEPT_FROM_BYTES", 256 * 1024)
    monkeypatch.setattr(_alloc, "KEPT_MOST_BYTES", 4 << 20)
    monkeypatch.setattr(_alloc, "_kept", [])


def test_a_dropped_large_result_lends_its_memory_to_the_next_of_its_size(small_pool):
    x = np.random.default_rng(2).standard_normal((2, 64, 32, 32)).astype(np.float32)
    w = np.random.default_rng(3).standard_normal((64, 1, 3, 3)).astype(np.float32)
    expected = gconv.conv2d_input_grad(x.shape, w, x, padding=1, groups=64)
    address = expected.ctypes.data
    del expected
    got = gconv.conv2d_input_grad(x.shape, w, x, padding=1, groups=64)
    assert got.ctypes.data == address
    np.testing.assert_array_equal(
        got, gconv.conv2d_input_grad(x.shape, w, x, padding=1, groups=64))


@pytest.mark.parametrize("hold", ["array", "view", "exported"])
def test_a_large_result_still_referenced_is_never_lent(small_pool, hold):
    first = _alloc.empty((128, 1024), np.float32)
    first[...] = 7
    held = {"array": first, "view": first[3:], "exported": memoryview(first)}[hold]
    del first
    second = _alloc.empty((128, 1024), np.float32)
    second[...] = 1
    assert not np.shares_memory(np.asarray(held), second)
    assert np.all(np.asarray(held) == 7)


def test_the_pool_keeps_two_buffers_within_its_bound(small_pool):
    sizes = [(96, 1024), (80, 1024), (64, 1024)]  # 384, 320, 256 KiB
    addresses = []
    for shape in sizes:
        a = _alloc.empty(shape, np.float32)
        addresses.append(a.ctypes.data)
        del a
    assert len(_alloc._kept) == 2  # the first was let go
    assert _alloc.empty(sizes[2], np.float32).ctypes.data == addresses[2]
    big = _alloc.empty((1200, 1024), np.float32)  # 4.7 MiB: past the bound, not kept
    assert all(r.nbytes < big.nbytes for r in _alloc._kept)
