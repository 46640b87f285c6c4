"""grouped_direct's NCHW kernel for stride 2 that reads the input in place
(grouped_rows_s2_nchw in src/cpu/grouped_direct/grouped_rows_nchw.inl,
AVX-512 only): 3x3, undilated, output rows of up to two vectors (32 float32
or 16 float64 values), each tap's input vector the even values of two
masked loads, blocks of up to four output channels x four rows of one
vector or two rows of two; groups of at least four output channels and at
most 64 weights per tap.

Against the float64 reference in every ISA family (the others take the
plane kernel: the same geometries check that they agree) and both dtypes,
over ResNeXt s3_down's shape, row widths of one vector, one and a half and
exactly two (and one past: another kernel), short last blocks of rows and
of channels (6 per group: 4 + 2), odd input sizes, absent, asymmetric and
oversized padding, bias and ReLU6, one image split over two threads, a NaN
weight meeting the padding, and the same bits as the plane kernel."""

import numpy as np
import pytest

import gconv
import test_grouped_rows_nchw
from conftest import ALL_ISAS, cap_isa, random_array

# (groups, channels per group in, out, H, W, padding (int or top, bottom, left, right))
GEOMETRIES = [
    (4, 8, 8, 56, 56, 1),            # ResNeXt s3_down's groups, 28-wide outputs
    (2, 4, 4, 23, 31, 1),            # odd sizes: 16 outputs a row, one vector
    (3, 8, 6, 9, 41, 1),             # 21 outputs: one and a half vectors; blocks 4 + 2
    (2, 4, 8, 10, 64, 1),            # 32 outputs: two whole float32 vectors
    (2, 2, 4, 7, 13, 0),             # no padding
    (2, 8, 4, 12, 20, (1, 0, 2, 1)),  # asymmetric
    (2, 4, 4, 6, 9, 3),              # padding wider than the window: rows of zeros
    (2, 4, 4, 5, 66, 1),             # 33 outputs: one past the kernel, another kernel
    (2, 16, 4, 17, 17, 1),           # 16 inputs a group, 64 weights a tap
]


def _check(*args, **kwargs):
    test_grouped_rows_nchw._check(*args, stride=2, **kwargs)


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=test_grouped_rows_nchw._geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_rows_s2_nchw_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[3] * 31 + geometry[4])


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_grouped_rows_s2_nchw_fuse_relu6(isa, restore_isa):
    cap_isa(isa)
    _check(2, 8, 8, 28, 28, 1, "float32", activation="relu6")


@pytest.mark.parametrize("kg", [4, 6, 8])
def test_grouped_rows_s2_nchw_split_into_channel_runs_match_reference(kg):
    # One image of one group on two threads: runs of the group's output
    # channels in whole blocks of four, the last shorter.
    with gconv.threads(2):
        _check(1, 8, kg, 30, 30, 1, "float32", batch=1, seed=kg)


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_grouped_rows_s2_nchw_nan_weight_meets_padding_as_reference(isa, restore_isa):
    cap_isa(isa)
    w = random_array((16, 8, 3, 3), np.float32, 3)
    w[5, 2, 0, 0] = np.nan    # a corner tap: padding for the first row and column
    w[13, 7, 1, 2] = np.inf   # the right column's tap: padding past the last column
    _check(2, 8, 8, 14, 13, 1, "float32", weight=w, bias=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_rows_s2_nchw_sums_in_the_plane_kernels_order(dtype):
    # The AVX2 family runs the plane kernel on these shapes; both sum input
    # channel, kernel row, kernel column from zero and add the bias last,
    # with fused multiply-adds: the same bits.
    if "avx512" not in gconv.build_info()["isa_supported"]:
        pytest.skip("this CPU runs no AVX-512 kernel")
    x = random_array((2, 32, 28, 28), dtype, 7)
    w = random_array((32, 8, 3, 3), dtype, 8)
    b = random_array((32,), dtype, 9)
    args = dict(stride=2, padding=1, groups=4, force_algorithm="grouped_direct")
    results = {}
    for isa in ("avx512", "avx2"):
        previous = gconv._set_max_isa(isa)
        try:
            results[isa] = gconv.conv2d(x, w, b, **args)
        finally:
            gconv._set_max_isa(previous)
    np.testing.assert_array_equal(results["avx512"], results["avx2"])
