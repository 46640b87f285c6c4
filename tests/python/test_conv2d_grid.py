"""conv2d and depthwise_conv2d against gconv.reference on the pairwise grid.

The grid (conftest.grid_cases) covers every pair of: channel configuration
(G=1, narrow and wide 1<G<C, G=C with multiplier 1..3), kernel, stride,
dilation, padding form, layout, dtype, batch (0, 1, 3, unbatched), spatial
size and bias/activation.
"""

import numpy as np
import pytest

import gconv
from conftest import GRID, assert_close

DEPTHWISE_GRID = [case for case in GRID if case.g == case.c]


@pytest.mark.parametrize("case", GRID, ids=lambda case: case.id())
def test_conv2d_matches_reference(case):
    case.check()


@pytest.mark.parametrize("case", DEPTHWISE_GRID, ids=lambda case: case.id())
def test_depthwise_conv2d_matches_reference(case):
    x, w, b = case.arrays()
    got = gconv.depthwise_conv2d(x, w, b, stride=case.stride, padding=case.padding,
                                 dilation=case.dilation, layout=case.layout,
                                 activation=case.activation)
    assert_close(got, case.reference(x, w, b), case.dtype, case.descriptor(op="depthwise_conv2d"))


def test_grid_covers_the_seed_cases():
    ratios = {case.c // case.g for case in GRID if 1 < case.g < case.c}
    assert {2, 3, 4, 8, 16, 64} <= ratios | {case.c for case in GRID if case.g == 1}
    multipliers = {case.k // case.c for case in DEPTHWISE_GRID}
    assert multipliers == {1, 2, 3}
    assert {case.n for case in GRID} == {0, 1, 3, None}
    assert {"same", "valid"} <= {case.padding for case in GRID if isinstance(case.padding, str)}
    assert {2, 3} <= {case.stride for case in GRID if case.padding == "same"}


def test_empty_batch_gives_empty_result_of_the_right_shape():
    x = np.zeros((0, 6, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    y = gconv.conv2d(x, w, groups=2, padding=1)
    assert y.shape == (0, 4, 5, 5) and y.dtype == np.float32


def test_zero_out_channels_gives_empty_result():
    x = np.ones((2, 4, 5, 5), np.float64)
    y = gconv.conv2d(x, np.ones((0, 2, 3, 3)), groups=2)
    assert y.shape == (2, 0, 3, 3) and y.dtype == np.float64


def test_integer_valued_data_is_exact_in_float32():
    # Small integers: every partial sum is exactly representable, so any
    # summation order must give the reference's value bit for bit.
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (2, 16, 9, 11)).astype(np.float32)
    w = rng.integers(-3, 4, (32, 4, 3, 3)).astype(np.float32)
    y = gconv.conv2d(x, w, groups=4, padding=1, stride=(1, 2))
    ref = gconv.reference.conv2d(x, w, groups=4, padding=1, stride=(1, 2))
    np.testing.assert_array_equal(y, ref.astype(np.float32))
