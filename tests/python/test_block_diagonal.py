"""block_diagonal: the grouped weight as its dense, structured-sparse equivalent."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import assert_close, random_array


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k,c,groups,kernel",
                         [(8, 8, 2, 3), (12, 6, 3, 1), (16, 16, 16, 3), (6, 4, 1, 2), (24, 8, 4, 5)])
def test_conv2d_with_block_diagonal_weight_equals_grouped_conv2d(k, c, groups, kernel, dtype):
    x = random_array((2, c, 7, 6), dtype, 1)
    w = random_array((k, c // groups, kernel, kernel), dtype, 2)
    dense = gconv.block_diagonal(w, groups)
    assert dense.shape == (k, c, kernel, kernel) and dense.dtype == np.dtype(dtype)
    grouped = gconv.conv2d(x, w, groups=groups, padding=1)
    assert_close(gconv.conv2d(x, dense, padding=1), reference.conv2d(x, w, groups=groups, padding=1), dtype,
                 f"block_diagonal k={k} c={c} groups={groups} kernel={kernel}")
    assert_close(grouped, reference.conv2d(x, dense, padding=1), dtype, "grouped vs dense reference")


def test_block_diagonal_places_blocks_and_zeros():
    w = random_array((6, 2, 3, 3), np.float32, 1)
    dense = gconv.block_diagonal(w, 3)
    np.testing.assert_array_equal(dense, reference.block_diagonal(w, 3).astype(np.float32))
    for g in range(3):
        np.testing.assert_array_equal(dense[2 * g:2 * g + 2, 2 * g:2 * g + 2], w[2 * g:2 * g + 2])
    mask = np.kron(np.eye(3), np.ones((2, 2))).astype(bool)
    assert not dense[~mask].any()


def test_block_diagonal_with_one_group_is_the_weight():
    w = random_array((4, 3, 2, 2), np.float64, 1)
    np.testing.assert_array_equal(gconv.block_diagonal(w, 1), w)


def test_block_diagonal_does_not_alias_the_weight():
    w = random_array((4, 2, 1, 1), np.float32, 1)
    dense = gconv.block_diagonal(w, 2)
    dense[...] = 0
    assert w.any()
