"""grouped_direct in NHWC with two input channels and one output per group
(Cg = 2, Kg = 1: the transposed form of depthwise multiplier 2), 3x3 at
stride 1 or 2, undilated, from one vector of outputs: the depthwise runs
(src/cpu/depthwise/dwconv2d.inl) in their two-input form, each output vector
summing two input vectors' taps in their own accumulators, added pairwise
at the end; the outputs past the last full vector one at a time.

Against the float64 reference in every ISA family and both dtypes, over
output counts around the vector widths (tails of one and of eight), the
run patterns (one run narrower than a run, overlapping last runs, edges),
strides 1 and 2, asymmetric, absent and oversized padding, bias and ReLU6,
items cut into column blocks, a NaN weight meeting the padding, and
conv_transpose2d of a multiplier-2 layer, which takes this route."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, cap_isa, random_array


def _nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


# (outputs K, H x W, stride, padding (int or top, bottom, left, right))
GEOMETRIES = [
    (32, (9, 16), 1, 1),             # dw_mult2's transposed form: two runs of 8
    (40, (7, 7), 1, 1),              # one run narrower than 8, both edges; a tail of 8
    (17, (5, 23), 1, 1),             # a last run overlapping the one before; a tail of one
    (16, (12, 13), 2, 1),            # stride 2, exactly one AVX-512 vector
    (48, (11, 18), 2, 1),            # stride 2, even width
    (24, (8, 11), 1, (1, 0, 2, 1)),  # asymmetric: columns checked at run time
    (20, (6, 9), 1, 3),              # padding wider than the window: rows of zeros
    (33, (8, 10), 1, 0),             # no padding
    (8, (6, 6), 1, 1),               # fewer outputs than an AVX-512 vector
]


def _geometry_id(g):
    k, (h, w), s, p = g
    return f"k{k}_{h}x{w}_s{s}_p{p if isinstance(p, int) else '-'.join(map(str, p))}"


def _padding(p):
    return p if isinstance(p, int) else ((p[0], p[1]), (p[2], p[3]))


def _check(k, spatial, stride, padding, dtype, batch=2, seed=0, activation=None, weight=None,
           bias=True):
    x = random_array((batch, 2 * k) + spatial, dtype, seed)
    w = random_array((k, 2, 3, 3), dtype, seed + 1) if weight is None else weight
    b = random_array((k,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=_padding(padding), groups=k, activation=activation,
                layout="NHWC")
    want = reference.conv2d(_nhwc(x).astype(np.float64), w.astype(np.float64),
                            None if b is None else b.astype(np.float64), **args)
    got = gconv.conv2d(_nhwc(x), w, b, **args)
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_nhwc_pairs_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[0] + geometry[1][1])


def test_grouped_nhwc_pairs_fuse_relu6():
    _check(40, (9, 16), 1, 1, "float32", activation="relu6")
    _check(17, (11, 18), 2, 1, "float32", activation="relu6")


@pytest.mark.parametrize("width", [17, 40])
def test_grouped_nhwc_pairs_in_column_blocks_match_reference(width, restore_threads):
    # One image of three output rows on two threads: items are column blocks.
    with gconv.threads(2):
        _check(40, (3, width), 1, 1, "float32", batch=1, seed=width)


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_grouped_nhwc_pairs_nan_weight_meets_padding_as_reference(isa, restore_isa):
    cap_isa(isa)
    w = random_array((33, 2, 3, 3), np.float32, 3)
    w[5, 1, 0, 0] = np.nan    # second input's corner tap: padding for row and column 0
    w[32, 0, 1, 2] = np.inf   # the tail output's right tap: padding for the last column
    _check(33, (7, 9), 1, 1, "float32", weight=w, bias=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_transpose2d_of_multiplier_2_nhwc_matches_reference(dtype):
    # The input gradient of dw_mult2-like layers runs on the two-input kernel.
    dy = random_array((2, 40, 9, 12), dtype, 5)
    w = random_array((40, 1, 3, 3), dtype, 6)  # (in = 2 * 20, out / groups = 1)
    b = random_array((20,), dtype, 7)
    want = reference.conv_transpose2d(_nhwc(dy).astype(np.float64), w.astype(np.float64),
                                      b.astype(np.float64), padding=1, groups=20, layout="NHWC")
    got = gconv.conv_transpose2d(_nhwc(dy), w, b, padding=1, groups=20, layout="NHWC")
    assert_close(got, want, dtype, "conv_transpose2d NHWC multiplier 2")
