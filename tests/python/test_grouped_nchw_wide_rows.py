"""grouped_direct in NCHW on the depthwise wide-rows kernel
(src/cpu/depthwise/dwconv2d_wide_rows.inl, AVX-512 only): small groups
(Cg x Kg weights per tap up to 64 float32 / 8 float64 values at stride 1,
8 / 2 at stride 2), 3x3 / 5x5 / 7x7, output rows of up to 16 vectors read in
place, each output plane summing its group's Cg input planes in turn.

Against the float64 reference in every ISA family (the others take the
plane and channel-lane kernels: the same geometries check that they agree)
and both dtypes, over channels per group on either side of the limits,
chunks of one to four vectors, stride 2, asymmetric and oversized padding,
bias and ReLU6, items that split a group's output channels between threads,
a NaN weight meeting the padding, and the bits against the plane kernel."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, cap_isa, random_array

# (H, W, kernel, padding, stride, channels per group Cg, outputs per group Kg)
GEOMETRIES = [
    (9, 56, 3, 1, 1, 2, 1),      # dw_mult2's transposed form: two planes into one
    (7, 56, 3, 1, 1, 4, 4),      # ResNeXt s2's groups
    (6, 28, 3, 1, 1, 8, 8),      # ResNeXt s3's groups: the float32 limit
    (5, 28, 3, 1, 1, 16, 8),     # past it: the plane kernel
    (6, 40, 3, 1, 1, 4, 16),     # 16 outputs per group: the channel-lane kernel's otherwise
    (9, 28, 5, 2, 1, 2, 2),      # 5x5: shifted taps, chunks of two vectors
    (6, 56, 7, 3, 1, 3, 1),      # 7x7 on 56 wide: two chunks of two
    (3, 112, 3, 1, 1, 2, 3),     # chunks of four and three
    (2, 256, 5, 2, 1, 2, 1),     # the widest rows: sixteen vectors
    (3, 257, 3, 1, 1, 2, 1),     # one column past: the plane kernel
    (12, 17, 3, 1, 1, 2, 2),     # two vectors, the second one lane
    (7, 30, 3, (1, 0, 2, 1), 1, 2, 1),  # asymmetric: output rows wider than the input's
    (4, 20, 3, 3, 1, 2, 1),      # padding wider than the window
    (8, 40, 3, 0, 1, 3, 2),      # no padding
    (9, 40, 3, 1, 2, 2, 1),      # stride 2: two loads and a permute per tap
    (10, 34, 3, 1, 2, 2, 4),     # the float32 stride-2 limit; 17 outputs a row
    (8, 36, 3, 1, 2, 4, 4),      # past it
    (9, 37, 3, (1, 0, 2, 1), 2, 2, 2),  # stride 2, asymmetric
]


def _geometry_id(g):
    h, w, k, p, s, cg, kg = g
    pad = p if isinstance(p, int) else "-".join(map(str, p))
    return f"{h}x{w}_k{k}_p{pad}_s{s}_cg{cg}_kg{kg}"


def _padding(p):
    return p if isinstance(p, int) else ((p[0], p[1]), (p[2], p[3]))


def _check(h, w, k, padding, stride, cg, kg, dtype, groups=3, batch=2, seed=0, bias=True,
           activation=None, weight=None):
    x = random_array((batch, groups * cg, h, w), dtype, seed)
    wt = random_array((groups * kg, cg, k, k), dtype, seed + 1) if weight is None else weight
    b = random_array((groups * kg,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=_padding(padding), groups=groups, activation=activation)
    want = reference.conv2d(x.astype(np.float64), wt.astype(np.float64),
                            None if b is None else b.astype(np.float64), **args)
    got = gconv.conv2d(x, wt, b, **args)
    assert_close(got, want, dtype, f"{x.shape} {wt.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_nchw_wide_rows_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[0] * 29 + geometry[1] + geometry[5])


def test_grouped_nchw_wide_rows_fuse_relu6():
    _check(9, 56, 3, 1, 1, 2, 1, "float32", activation="relu6")
    _check(9, 28, 5, 2, 1, 2, 2, "float32", activation="relu6")
    _check(9, 40, 3, 1, 2, 2, 1, "float32", activation="relu6")


@pytest.mark.parametrize("groups", [1, 3, 5])
def test_grouped_nchw_wide_rows_split_into_channel_runs_match_reference(groups):
    # One image on two threads: items are runs of output channels, which
    # start and end inside a group when Kg > 1.
    with gconv.threads(2):
        _check(5, 56, 3, 1, 1, 2, 3, "float32", groups=groups, batch=1, seed=groups)
        _check(4, 28, 5, 2, 1, 4, 5, "float32", groups=groups, batch=1, seed=groups + 1)
        _check(3, 40, 3, 1, 2, 2, 3, "float32", groups=groups, batch=1, seed=groups + 2)


def test_grouped_nchw_wide_rows_nan_weight_meets_padding_as_reference():
    w = random_array((6, 2, 3, 3), np.float32, 3)
    w[1, 1, 0, 0] = np.nan    # the second plane's corner tap: padding for row and column 0
    w[4, 0, 1, 2] = np.inf    # the first plane's right tap: padding for the last column
    _check(6, 40, 3, 1, 1, 2, 2, "float32", weight=w, bias=False)


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stride", [1, 2])
def test_grouped_nchw_kernels_sum_in_the_same_order(k, dtype, stride):
    # The left columns of a 300-wide plane (the plane kernel) recomputed from
    # a narrow slice of its input (the wide-rows kernel where it takes the
    # width) give the same bits: both sum input plane by input plane, kernel
    # row by kernel row, so dask's chunks agree with one call.
    p = k // 2
    x = random_array((2, 8, 20, 300), dtype, k)
    w = random_array((8, 2, k, k), dtype, k + 1)
    b = random_array((8,), dtype, k + 2)
    args = dict(stride=stride, groups=4, activation="relu")
    full = gconv.conv2d(x, w, b, padding=p, **args)
    for width in (17, 41, 120):
        out_cols = (width - k + p) // stride + 1  # no right padding
        part = gconv.conv2d(x[..., :width], w, b, padding=((p, p), (p, 0)), **args)
        np.testing.assert_array_equal(part[..., :out_cols], full[..., :out_cols],
                                      err_msg=f"width {width}")
