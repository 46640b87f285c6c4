"""The NCHW depthwise kernels that read the input in place through masked
loads (AVX-512 only; undilated, 3x3 / 5x5 / 7x7):

- packed rows (src/cpu/depthwise/dwconv2d_packed_rows.inl): planes whose
  rows fit one vector (16 float32 or 8 float64 values), at most 32 output
  rows; two rows share a vector where they fit twice and the output is as
  wide as the input; the masks are built per block of up to eight vectors;
- wide rows (src/cpu/depthwise/dwconv2d_wide_rows.inl): output rows of up
  to 16 vectors, cut into chunks of up to four (two for 5x5 and 7x7, which
  shift each loaded input row into place per tap column), any number of
  rows, in blocks of 4-8 rows, at stride 1 or 2 (two masked loads and a permute per
  tap, output rows wider than half a vector); rows above and below the
  plane read a row of zeros.

Against the float64 reference in every ISA family (the others take the
small-plane and plane kernels: the same geometries check that they agree)
and both dtypes, over depth multipliers, one and two rows per vector, widths of exactly one
vector, odd row counts (a last vector half outside the plane), up to four
blocks, chunks of one to four vectors (a last chunk of one), asymmetric,
absent and oversized padding (output rows wider than the input's), bias
and ReLU6, items cut into runs of channels (one image on two threads), the
limits on either side of each kernel (33 rows, 257 columns), a NaN
weight meeting the padding, and 5x5 and 7x7 batches beyond the caches
(where the wide rows request the next planes) against their images one at
a time."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, cap_isa, random_array

# (H, W, kernel, padding (int or top, bottom, left, right))
GEOMETRIES = [
    (14, 14, 3, 1),            # MobileNetV2's 14x14: two blocks of seven rows
    (7, 7, 3, 1),              # 7x7: two rows per float32 vector, the last one alone
    (7, 7, 5, 2),              # EfficientNet's 5x5 on 7x7
    (7, 7, 7, 3),              # ConvNeXt's last stage: 7x7 on 7x7
    (14, 14, 5, 2),            # EfficientNet's 5x5 on 14x14
    (14, 14, 7, 3),
    (16, 16, 3, 1),            # exactly one float32 vector wide
    (8, 8, 3, 1),              # two rows fill a float32 vector; one float64 vector
    (4, 4, 3, 1),              # four would fit: two per vector
    (5, 3, 3, 1),
    (13, 9, 3, 1),             # odd rows; float64 rows need two vectors (not this kernel)
    (30, 6, 3, 1),             # fifteen pairs of rows: blocks of eight and seven
    (32, 16, 5, 2),            # four blocks
    (9, 11, 3, (1, 0, 2, 1)),  # asymmetric: output rows one wider than the input's
    (10, 12, 3, 0),            # no padding: narrower output rows
    (6, 5, 3, 3),              # padding wider than the window: rows of zeros
    (33, 8, 3, 1),             # one row past packed rows' limit: wide rows, one vector
    (12, 17, 3, 1),            # one column past it: wide rows, two vectors
    (9, 28, 5, 2),             # EfficientNet's 5x5 at 28x28: blocks of eight rows
    (6, 56, 7, 3),             # ConvNeXt's 7x7 at 56 wide: two chunks of two, blocks of three rows
    (9, 40, 5, 2),             # 5x5 on three vectors: chunks of two and one
    (10, 112, 7, 3),           # 7x7 on seven vectors: chunks of 2, 2, 2 and 1, blocks of four rows
    (2, 256, 7, 3),            # 7x7 on the widest: eight chunks
    (5, 48, 3, 1),             # three vectors: blocks of five rows
    (3, 112, 3, 1),            # MobileNetV2's 112 wide: chunks of four and three
    (4, 200, 3, 1),            # chunks of 4, 4, 4 and 1 vectors
    (2, 256, 5, 2),            # the widest: sixteen vectors
    (3, 257, 3, 1),            # one column past the widest: the plane kernel
    (40, 33, 3, 1),            # 40 rows: five blocks of eight
    (7, 30, 3, (1, 0, 2, 1)),  # asymmetric, wide
    (8, 40, 3, 0),             # no padding, wide: narrower output rows
    (4, 20, 3, 3),             # padding wider than the window, wide
]


# Stride 2 (wide rows: two masked loads and a permute per tap), where output
# rows are wider than half a vector: (H, W, kernel, padding)
STRIDE_2 = [
    (9, 40, 3, 1),              # 20 outputs a row: two float32 vectors, three float64
    (10, 34, 3, 1),             # 17: a last vector of one lane
    (7, 33, 5, 2),
    (8, 30, 7, 3),              # 15 outputs
    (5, 15, 3, 1),              # 8: the small-plane kernel for float32, wide rows for float64
    (9, 37, 3, (1, 0, 2, 1)),   # asymmetric
    (8, 36, 3, 0),              # no padding
    (3, 250, 3, 1),             # 125 outputs: chunks of four and four vectors
    (3, 257, 3, 1),             # one input column past the widest: the plane kernel
    (41, 36, 3, 1),             # 21 rows: blocks of eight, seven and six
]


def _geometry_id(g):
    h, w, k, p = g
    return f"{h}x{w}_k{k}_p{p if isinstance(p, int) else '-'.join(map(str, p))}"


def _padding(p):
    return p if isinstance(p, int) else ((p[0], p[1]), (p[2], p[3]))


def _check(h, w, k, padding, dtype, channels=20, batch=2, seed=0, bias=True, activation=None,
           weight=None, stride=1, multiplier=1):
    x = random_array((batch, channels, h, w), dtype, seed)
    wt = (random_array((channels * multiplier, 1, k, k), dtype, seed + 1) if weight is None
          else weight)
    b = random_array((channels * multiplier,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=_padding(padding), groups=channels, activation=activation)
    want = reference.conv2d(x.astype(np.float64), wt.astype(np.float64),
                            None if b is None else b.astype(np.float64), **args)
    got = gconv.conv2d(x, wt, b, **args)
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nchw_in_place_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[0] * 31 + geometry[1])


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", STRIDE_2, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nchw_in_place_stride_2_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[0] * 37 + geometry[1], stride=2)


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_depthwise_nchw_in_place_fuse_relu6(isa, restore_isa):
    cap_isa(isa)
    _check(7, 7, 3, 1, "float32", activation="relu6")
    _check(14, 14, 5, 2, "float32", activation="relu6")
    _check(9, 28, 5, 2, "float32", activation="relu6")
    _check(9, 40, 3, 1, "float32", activation="relu6", stride=2)


# Depth multipliers: output channel k reads input plane k / m.
# (H, W, kernel, padding, stride, multiplier)
MULTIPLIERS = [
    (14, 14, 3, 1, 1, 2),      # packed rows
    (7, 7, 5, 2, 1, 3),        # packed rows, two rows per float32 vector
    (9, 56, 3, 1, 1, 2),       # wide rows: dw_mult2's 56-wide rows
    (9, 28, 7, 3, 1, 2),       # wide rows, shifted taps
    (9, 40, 3, 1, 2, 2),       # wide rows at stride 2
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", MULTIPLIERS,
                         ids=lambda g: f"{g[0]}x{g[1]}_k{g[2]}_s{g[4]}_m{g[5]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nchw_in_place_multipliers_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    h, w, k, p, stride, m = geometry
    _check(h, w, k, p, dtype, channels=7, seed=h * 7 + w, stride=stride, multiplier=m)


@pytest.mark.parametrize("channels", [1, 5, 37])
def test_depthwise_nchw_in_place_split_into_channel_runs_match_reference(channels):
    # One image on two threads: items are runs of channels, the last shorter.
    with gconv.threads(2):
        _check(14, 14, 3, 1, "float32", channels=channels, batch=1, seed=channels)
        _check(7, 7, 3, 1, "float32", channels=channels, batch=1, seed=channels + 1)
        _check(5, 56, 3, 1, "float32", channels=channels, batch=1, seed=channels + 2)
        # runs of output channels that start inside a multiplier's group
        _check(14, 14, 3, 1, "float32", channels=channels, batch=1, seed=channels + 3,
               multiplier=3)


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("spatial", [(7, 7), (14, 14), (6, 40)], ids=["7x7", "14x14", "6x40"])
def test_depthwise_nchw_in_place_nan_weight_meets_padding_as_reference(isa, spatial, restore_isa):
    cap_isa(isa)
    w = random_array((20, 1, 3, 3), np.float32, 3)
    w[5, 0, 0, 0] = np.nan    # a corner tap: padding for the first row and column
    w[17, 0, 1, 2] = np.inf   # the right column's tap: padding for the last column
    _check(*spatial, 3, 1, "float32", weight=w, bias=False)


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_nchw_kernels_sum_in_the_same_order(k, dtype, stride):
    # The left columns of a 300-wide plane (the plane kernel) recomputed from
    # a narrow slice of its input (wide rows, packed rows or the small-plane
    # kernel, by width) give the same bits: every kernel sums the taps in the
    # same order, so dask's chunks agree with one call.
    p = k // 2
    x = random_array((2, 6, 20, 300), dtype, k)
    w = random_array((6, 1, k, k), dtype, k + 1)
    b = random_array((6,), dtype, k + 2)
    args = dict(stride=stride, groups=6, activation="relu")
    full = gconv.conv2d(x, w, b, padding=p, **args)
    for width in (9, 15, 17, 41, 120):
        out_cols = (width - k + p) // stride + 1  # no right padding
        narrow = gconv.conv2d(np.ascontiguousarray(x[..., :width]), w, b,
                              padding=((p, p), (p, 0)), **args)
        np.testing.assert_array_equal(narrow, full[..., :out_cols], err_msg=f"width {width}")


@pytest.mark.parametrize("k", [5, 7])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nchw_wide_rows_from_memory_match_images_one_at_a_time(k, dtype):
    # 6 images of 24 channels at 40x40 (float32: 4.6 MB in and out; float64
    # twice): beyond the 4 MiB from which the 5x5 and 7x7 wide rows request
    # the next channel's planes, where one image stays below. Requests never
    # change a result: the bits agree.
    x = random_array((6, 24, 40, 40), dtype, k)
    w = random_array((24, 1, k, k), dtype, k + 1)
    b = random_array((24,), dtype, k + 2)
    args = dict(padding=k // 2, groups=24, activation="relu6")
    batch = gconv.conv2d(x, w, b, **args)
    for n in range(len(x)):
        np.testing.assert_array_equal(batch[n:n + 1], gconv.conv2d(x[n:n + 1], w, b, **args),
                                      err_msg=f"image {n}")
    want = reference.conv2d(x[:1].astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            **args)
    assert_close(batch[:1], want, dtype, "first image")
