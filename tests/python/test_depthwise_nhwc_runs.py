"""The NHWC depthwise forward's runs (dw_nhwc_run in src/cpu/depthwise/
dwconv2d.inl): rows of output pixels, channels a vector at a time, each
input vector loaded once for every pixel whose window covers it. The runs
are compiled for "same" padding's edges (S / 2 columns outside the image at
one end, at both for a 7- or 14-wide map's single run) and check every column
at run time otherwise; a row's last run ends at the row's end, overlapping
the one before. Each kernel size chooses between two run widths by the
row's width (3x3: 7 where it divides the row and 8 does not, 14 on
AVX-512 float32 where 14 does). The kernels take channel counts of at least eight vectors
(64 float32 channels on AVX2, 128 on AVX-512), so every geometry here has
136 (a tail past the last vector in every family) or more; multiplier 2 at
3x3 takes them from one vector of channels, both outputs of a channel at
once, interleaved on the way out.

Against the float64 reference in every ISA family and both dtypes, over the
edge patterns (left, right, both, neither, asymmetric and oversized
padding), strides 1 and 2, 3x3 / 5x5 / 7x7, maps narrower than a run, a
depth multiplier, bias and ReLU6, items cut into column blocks (a batch of
one with fewer output rows than four per thread), and a NaN weight meeting
the padding (NaN wherever its tap falls, padding or not, as the reference)."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, cap_isa, random_array


def _nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


# (channels, H x W, kernel, stride, padding, multiplier)
GEOMETRIES = [
    (136, (7, 7), 3, 1, 1, 1),           # MobileNetV2's 7x7: one 7-wide run, both edges
    (136, (14, 14), 3, 1, 1, 1),         # one 14-run (both edges), or two 7-runs
    (136, (5, 28), 3, 1, 1, 1),          # two 14-runs, or four 7-runs, two interior
    (136, (6, 42), 3, 1, 1, 1),          # three 14-runs, one interior
    (136, (6, 16), 3, 1, 1, 1),          # two 8-wide runs
    (136, (9, 23), 3, 1, 1, 1),          # interior runs, a last run overlapping by five
    (136, (12, 13), 3, 2, 1, 1),         # stride 2: left edge, right run inside
    (136, (11, 18), 3, 2, 1, 1),         # stride 2, even width: right edge
    (136, (10, 14), 5, 1, 2, 1),         # 5x5: two columns of padding at each end
    (136, (7, 7), 5, 1, 2, 1),           # 5x5 on a 7-wide map
    (136, (9, 12), 7, 1, 3, 1),          # 7x7: three columns
    # 5x5 and 7x7 run 7 pixels (AVX2, AVX-512) or 14 (AVX-512, where that
    # computes no more pixels than 7-runs): each width below picks a pattern.
    (136, (6, 14), 5, 1, 2, 1),          # one 14-run (both edges), or 7 + 7
    (136, (5, 28), 5, 1, 2, 1),          # two 14-runs, or four 7-runs with interior ones
    (136, (4, 23), 5, 1, 2, 1),          # 14-runs, the last overlapping by five
    (136, (5, 20), 5, 1, 2, 1),          # 7-runs (14-runs would compute 28), overlapping
    (136, (7, 7), 7, 1, 3, 1),           # one 7-run, both edges
    (136, (8, 14), 7, 1, 3, 1),          # 7x7 on a 14-wide map
    (136, (5, 42), 7, 1, 3, 1),          # three 14-runs
    (136, (6, 5), 7, 1, 3, 1),           # narrower than a run
    (136, (8, 11), 3, 1, (1, 0, 2, 1), 1),  # asymmetric: checked at run time
    (136, (6, 9), 3, 1, 3, 1),           # padding wider than the window: rows of zeros
    (136, (5, 5), 3, 1, 1, 1),           # narrower than one run
    (136, (8, 10), 3, 1, 0, 1),          # no padding
    (72, (9, 16), 3, 1, 1, 2),           # depth multiplier 2
    # Multiplier 2, 3x3: both outputs of a channel at once, in runs of 8
    # pixels (AVX-512) or 4, from one vector of channels, stored interleaved.
    (40, (9, 16), 3, 1, 1, 2),           # two AVX-512 vectors and a tail of 8
    (24, (7, 7), 3, 1, 1, 2),            # one run narrower than 8, both edges
    (33, (12, 13), 3, 2, 1, 2),          # stride 2, a tail of one channel
    (48, (5, 23), 3, 1, 1, 2),           # a last run overlapping the one before
    (16, (8, 11), 3, 1, (1, 0, 2, 1), 2),  # asymmetric, exactly one vector
    (20, (6, 9), 3, 1, 3, 2),            # padding wider than the window
    (17, (5, 5), 3, 1, 0, 2),            # no padding, narrower than a run
]


def _geometry_id(g):
    c, (h, w), k, s, p, m = g
    return f"c{c}_{h}x{w}_k{k}_s{s}_p{p if isinstance(p, int) else '-'.join(map(str, p))}_m{m}"


def _torch_padding(p):
    """(top, bottom, left, right) to gconv's ((top, bottom), (left, right))."""
    return p if isinstance(p, int) else ((p[0], p[1]), (p[2], p[3]))


def _check(c, spatial, k, stride, padding, multiplier, dtype, batch=2, seed=0, bias=True,
           activation=None, weight=None):
    x = random_array((batch, c) + spatial, dtype, seed)
    w = random_array((c * multiplier, 1, k, k), dtype, seed + 1) if weight is None else weight
    b = random_array((c * multiplier,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=_torch_padding(padding), groups=c, activation=activation)
    want = reference.conv2d(_nhwc(x).astype(np.float64), w.astype(np.float64),
                            None if b is None else b.astype(np.float64), layout="NHWC", **args)
    got = gconv.conv2d(_nhwc(x), w, b, layout="NHWC", **args)
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nhwc_runs_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[0] + geometry[1][1])


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_depthwise_nhwc_runs_fuse_relu6(isa, restore_isa):
    cap_isa(isa)
    _check(136, (14, 14), 3, 1, 1, 1, "float32", activation="relu6")
    _check(40, (9, 16), 3, 1, 1, 2, "float32", activation="relu6")


@pytest.mark.parametrize("width", [17, 40])
def test_depthwise_nhwc_runs_in_column_blocks_match_reference(width):
    # One image of three output rows on two threads: items are blocks of
    # columns, each ending with a run that overlaps its block's previous one.
    with gconv.threads(2):
        _check(136, (3, width), 3, 1, 1, 1, "float32", batch=1, seed=width)
        _check(40, (3, width), 3, 1, 1, 2, "float32", batch=1, seed=width + 1)


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("spatial", [(7, 7), (14, 14)], ids=["7x7", "14x14"])
def test_depthwise_nhwc_runs_nan_weight_meets_padding_as_reference(isa, spatial, restore_isa):
    cap_isa(isa)
    w = random_array((136, 1, 3, 3), np.float32, 3)
    w[5, 0, 0, 0] = np.nan    # a corner tap: padding for the first row and column
    w[77, 0, 1, 2] = np.inf   # the right column's tap: padding for the last column
    _check(136, spatial, 3, 1, 1, 1, "float32", weight=w, bias=False)
    _check(68, spatial, 3, 1, 1, 2, "float32", weight=w, bias=False)  # multiplier 2
