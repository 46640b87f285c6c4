"""conv2d called again with arguments it has already checked takes a short
path to a plan: it must still read the current weights and input, and
reject everything the first call would have rejected."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import random_array


def assert_close(got, want):
    tol = 1e-5 if got.dtype == np.float32 else 1e-12
    assert got.dtype == want.dtype or want.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _first_call(dtype="float32"):
    x = random_array((2, 4, 6, 5), dtype, 11)
    w = random_array((6, 2, 3, 3), dtype, 12)
    b = random_array((6,), dtype, 13)
    gconv.conv2d(x, w, b, padding=1, groups=2, activation="relu")
    return x, w, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_repeated_call_reads_weights_and_input_changed_in_place(dtype):
    x, w, b = _first_call(dtype)
    for seed in range(3):
        w[...] = random_array(w.shape, dtype, 20 + seed)
        x[...] = random_array(x.shape, dtype, 30 + seed)
        b[...] = random_array(b.shape, dtype, 40 + seed)
        got = gconv.conv2d(x, w, b, padding=1, groups=2, activation="relu")
        assert_close(got, reference.conv2d(x, w, b, padding=1, groups=2, activation="relu"))


@pytest.mark.parametrize("kwargs,error", [
    (dict(stride=1.0), TypeError),         # equal to 1, but not an int
    (dict(stride=True), TypeError),
    (dict(groups=2.0), TypeError),
    (dict(padding=(1.0, 1)), TypeError),
    (dict(activation="Relu"), ValueError),
    (dict(layout="nchw"), ValueError),
])
def test_repeated_call_rejects_arguments_equal_to_accepted_ones(kwargs, error):
    x, w, b = _first_call()
    args = dict(padding=1, groups=2, activation="relu")
    args.update(kwargs)
    with pytest.raises(error):
        gconv.conv2d(x, w, b, **args)


def test_repeated_call_rejects_mismatched_dtypes():
    x, w, b = _first_call()
    with pytest.raises(TypeError, match="dtype"):
        gconv.conv2d(x.astype(np.float64), w, b, padding=1, groups=2, activation="relu")
    with pytest.raises(TypeError, match="dtype"):
        gconv.conv2d(x, w, b.astype(np.float64), padding=1, groups=2, activation="relu")


def test_repeated_call_rejects_a_bias_of_another_shape():
    x, w, b = _first_call()
    with pytest.raises(ValueError, match="bias"):
        gconv.conv2d(x, w, b[:5], padding=1, groups=2, activation="relu")


@pytest.mark.parametrize("make", [
    lambda a: np.asfortranarray(a),                       # not C-contiguous
    lambda a: a.astype(a.dtype.newbyteorder(">")),        # non-native byte order
    lambda a: np.ascontiguousarray(a[:, :, ::-1, :])[:, :, ::-1, :],  # negative strides
])
def test_repeated_call_with_other_array_forms_matches_reference(make):
    x, w, b = _first_call()
    want = reference.conv2d(x, w, b, padding=1, groups=2, activation="relu")
    assert_close(gconv.conv2d(make(x), w, b, padding=1, groups=2, activation="relu"), want)
    assert_close(gconv.conv2d(x, make(w), b, padding=1, groups=2, activation="relu"), want)


def test_repeated_call_returns_a_new_array_each_time():
    x, w, b = _first_call()
    first = gconv.conv2d(x, w, b, padding=1, groups=2, activation="relu")
    second = gconv.conv2d(x, w, b, padding=1, groups=2, activation="relu")
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, second)


def test_repeated_unbatched_and_empty_batch_calls():
    x, w, b = _first_call()
    for _ in range(2):
        got = gconv.conv2d(x[0], w, b, padding=1, groups=2, activation="relu")
        assert got.shape == (6, 6, 5)
        assert_close(got, reference.conv2d(x[:1], w, b, padding=1, groups=2, activation="relu")[0])
        empty = gconv.conv2d(x[:0], w, b, padding=1, groups=2, activation="relu")
        assert empty.shape == (0, 6, 6, 5)
