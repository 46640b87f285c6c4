"""grouped_direct's NCHW kernel that reads the input in place through masked
loads (src/cpu/grouped_direct/grouped_rows_nchw.inl, AVX-512 only): 3x3,
stride 1, undilated, rows of up to four vectors (64 float32 or 32 float64
values; more than one only for groups of at least four output channels),
lanes over an output row, blocks of up to four output channels x four rows
of one vector (three of two, two of three, one of four), weights packed in
blocks of four channels per group; beyond 8 MiB of data it requests the
next block's rows.

Against the float64 reference in every ISA family (the others take the
channel-lane, wide-rows and plane kernels: the same geometries check that
they agree) and both dtypes, over ResNeXt s2's, s3's, s4's and RegNet's
shapes, channel counts per group that leave a short last block (1, 3, 6),
one input channel per group, widths of exactly one, two, three and four
vectors and one past each, odd and many row counts (short last blocks of
rows), asymmetric, absent and oversized padding (output rows wider than the
input's), bias and ReLU6, items cut into runs of a group's channels (one
image on two threads), the limits (65 columns; two output channels a group
on rows of two vectors: other kernels), a batch from memory against its
images one at a time, and a NaN weight meeting the padding."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, cap_isa, random_array

# (groups, channels per group in, out, H, W, padding (int or top, bottom, left, right))
GEOMETRIES = [
    (2, 16, 16, 14, 14, 1),          # ResNeXt s4 (32 groups of 16)
    (3, 16, 16, 14, 14, 1),          # RegNet (10 groups of 16)
    (2, 16, 16, 7, 7, 1),
    (3, 4, 6, 9, 16, 1),             # exactly one float32 vector wide; blocks of 4 + 2
    (2, 5, 3, 8, 8, 1),              # a lone short block
    (4, 1, 2, 6, 11, 1),             # one input channel per group
    (2, 3, 1, 13, 5, 1),             # one output channel per group, odd rows
    (2, 8, 8, 40, 10, 1),            # ten blocks of four rows
    (2, 6, 8, 9, 11, (1, 0, 2, 1)),  # asymmetric: output rows one wider than the input's
    (2, 6, 8, 10, 12, 0),            # no padding: narrower output rows
    (2, 4, 4, 6, 5, 3),              # padding wider than the window: rows of zeros
    (2, 8, 8, 12, 17, 1),            # one column past a float32 vector: two vectors
    (2, 8, 8, 28, 28, 1),            # ResNeXt s3: 1.75 float32 vectors, 3.5 float64
    (2, 4, 4, 30, 56, 1),            # ResNeXt s2's rows: 3.5 float32 vectors (float64: 7)
    (2, 8, 6, 10, 17, 1),            # two vectors: blocks of 4 + 2 channels, 3 + 3 + 3 + 1 rows
    (2, 4, 8, 7, 48, 1),             # exactly three float32 vectors: rows 2 + 2 + 2 + 1
    (2, 4, 4, 5, 64, 1),             # exactly four float32 vectors (float64: another kernel)
    (2, 4, 4, 5, 65, 1),             # one column past four vectors: another kernel
    (2, 3, 2, 9, 20, 1),             # two outputs a group on two vectors: another kernel
    (2, 6, 8, 9, 31, (1, 0, 2, 1)),  # asymmetric: 32 outputs a row from 31 inputs
]


def _geometry_id(g):
    groups, cg, kg, h, w, p = g
    pad = p if isinstance(p, int) else "-".join(map(str, p))
    return f"g{groups}_c{cg}_k{kg}_{h}x{w}_p{pad}"


def _padding(p):
    return p if isinstance(p, int) else ((p[0], p[1]), (p[2], p[3]))


def _check(groups, cg, kg, h, w, padding, dtype, batch=2, seed=0, bias=True, activation=None,
           weight=None, stride=1):
    """grouped_direct (forced) against the reference on a 3x3 layer; also
    the stride-2 rows' tests (test_grouped_rows_s2_nchw.py)."""
    x = random_array((batch, groups * cg, h, w), dtype, seed)
    wt = random_array((groups * kg, cg, 3, 3), dtype, seed + 1) if weight is None else weight
    b = random_array((groups * kg,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=_padding(padding), groups=groups, activation=activation)
    want = reference.conv2d(x.astype(np.float64), wt.astype(np.float64),
                            None if b is None else b.astype(np.float64), **args)
    got = gconv.conv2d(x, wt, b, force_algorithm="grouped_direct", **args)
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_rows_nchw_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[3] * 31 + geometry[4])


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_grouped_rows_nchw_fuse_relu6(isa, restore_isa):
    cap_isa(isa)
    _check(2, 16, 16, 14, 14, 1, "float32", activation="relu6")


@pytest.mark.parametrize("width", [14, 28])
@pytest.mark.parametrize("kg", [4, 20, 22])
def test_grouped_rows_nchw_split_into_channel_runs_match_reference(kg, width):
    # One image of one group on two threads: items are runs of the group's
    # output channels in whole blocks of four, the last shorter.
    with gconv.threads(2):
        _check(1, 8, kg, 14, width, 1, "float32", batch=1, seed=kg)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_rows_nchw_from_memory_match_images_one_at_a_time(dtype):
    # 12 images of 32 channels at 56x56 (float32) or 40x40: beyond 8 MiB in
    # and out, so each block requests the next block's rows; one image
    # alone stays below. Requests never change a result: the bits agree.
    size = 56 if dtype == "float32" else 40
    x = random_array((12, 32, size, size), dtype, 11)
    w = random_array((32, 8, 3, 3), dtype, 12)
    b = random_array((32,), dtype, 13)
    args = dict(padding=1, groups=4, activation="relu", force_algorithm="grouped_direct")
    batch = gconv.conv2d(x, w, b, **args)
    for n in range(len(x)):
        np.testing.assert_array_equal(batch[n:n + 1], gconv.conv2d(x[n:n + 1], w, b, **args),
                                      err_msg=f"image {n}")
    want = reference.conv2d(x[:1].astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            padding=1, groups=4, activation="relu")
    assert_close(batch[:1], want, dtype, "first image")


@pytest.mark.parametrize("cg,size", [(16, 14), (8, 28), (4, 56)], ids=["s4", "s3", "s2"])
def test_grouped_rows_nchw_is_the_planners_choice_for_resnext(cg, size):
    x = random_array((1, 4 * cg, size, size), np.float32, 5)
    w = random_array((4 * cg, cg, 3, 3), np.float32, 6)
    auto = gconv.conv2d(x, w, padding=1, groups=4)
    forced = gconv.conv2d(x, w, padding=1, groups=4, force_algorithm="grouped_direct")
    np.testing.assert_array_equal(auto, forced)


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_grouped_rows_nchw_nan_weight_meets_padding_as_reference(isa, restore_isa):
    cap_isa(isa)
    w = random_array((32, 16, 3, 3), np.float32, 3)
    w[5, 2, 0, 0] = np.nan    # a corner tap: padding for the first row and column
    w[21, 7, 1, 2] = np.inf   # the right column's tap: padding for the last column
    _check(2, 16, 16, 14, 14, 1, "float32", weight=w, bias=False)


@pytest.mark.parametrize("kg", [4, 16])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_nchw_kernels_sum_in_the_same_order(kg, dtype):
    # The left columns of a 40-wide plane (the plane or channel-lane
    # kernel) recomputed from a narrow slice of its input (this kernel) give
    # the same bits: dask's chunks agree with one call.
    x = random_array((2, 32, 10, 40), dtype, kg)
    w = random_array((2 * kg, 16, 3, 3), dtype, kg + 1)
    b = random_array((2 * kg,), dtype, kg + 2)
    args = dict(groups=2, activation="relu", force_algorithm="grouped_direct")
    full = gconv.conv2d(x, w, b, padding=1, **args)
    for width in (5, 9, 15):
        narrow = gconv.conv2d(np.ascontiguousarray(x[..., :width]), w, b,
                              padding=((1, 1), (1, 0)), **args)
        np.testing.assert_array_equal(narrow, full[..., :width - 1], err_msg=f"width {width}")
