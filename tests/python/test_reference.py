"""gconv.reference itself: its docstring examples, and agreement with a
direct loop over the definition on tiny shapes."""

import doctest
import itertools

import numpy as np
import pytest

from gconv import reference
from conftest import covering_array, random_array


def loop_conv2d(x, w, b, stride, pads, dilation, groups):
    """The definition, one output element at a time (NCHW, batched)."""
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = stride, pads, dilation
    oh = (h + pt + pb - dh * (r - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (s - 1) - 1) // sw + 1
    y = np.zeros((n, k, oh, ow))
    kg = k // groups
    for b_, o, i, j in itertools.product(range(n), range(k), range(oh), range(ow)):
        g = o // kg
        total = 0.0 if b is None else float(b[o])
        for ci, ri, si in itertools.product(range(cg), range(r), range(s)):
            row, col = i * sh + ri * dh - pt, j * sw + si * dw - pl
            if 0 <= row < h and 0 <= col < wd:
                total += float(x[b_, g * cg + ci, row, col]) * float(w[o, ci, ri, si])
        y[b_, o, i, j] = total
    return y


ROWS = covering_array({
    "channels": ((2, 1, 3), (4, 2, 2), (3, 3, 6), (6, 3, 3)),
    "kernel": ((1, 1), (3, 3), (2, 3)),
    "stride": ((1, 1), (2, 2), (3, 1)),
    "dilation": ((1, 1), (2, 1)),
    "pads": (((0, 0), (0, 0)), ((1, 1), (1, 1)), ((0, 2), (1, 0))),
    "bias": (False, True),
}, seed=5)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: "-".join(str(v) for v in r.values()).replace(" ", ""))
def test_reference_conv2d_matches_the_definition_loop(row):
    c, g, k = row["channels"]
    x = random_array((2, c, 6, 7), np.float64, 1)
    w = random_array((k, c // g) + row["kernel"], np.float64, 2)
    b = random_array((k,), np.float64, 3) if row["bias"] else None
    got = reference.conv2d(x, w, b, stride=row["stride"], padding=row["pads"], dilation=row["dilation"], groups=g)
    expected = loop_conv2d(x, w, b, row["stride"], row["pads"], row["dilation"], g)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_reference_docstring_examples_run():
    result = doctest.testmod(reference, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0


def test_reference_returns_float64_for_float32_input():
    x = np.ones((1, 2, 3, 3), np.float32)
    assert reference.conv2d(x, np.ones((2, 2, 1, 1), np.float32)).dtype == np.float64


def test_reference_nan_reaches_only_windows_holding_it():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = np.nan
    y = reference.conv2d(x, np.ones((1, 1, 3, 3)), padding=1, stride=2)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y).sum() == 1


def test_reference_activations():
    x = np.array([-1.0, 0.5, 7.0, np.nan]).reshape(1, 4, 1, 1)
    w = np.ones((4, 1, 1, 1))
    np.testing.assert_array_equal(reference.conv2d(x, w, groups=4, activation="relu").ravel(), [0, 0.5, 7, np.nan])
    np.testing.assert_array_equal(reference.conv2d(x, w, groups=4, activation="relu6").ravel(), [0, 0.5, 6, np.nan])
