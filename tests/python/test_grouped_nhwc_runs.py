"""grouped_direct in NHWC with G = 4 or 8 input and as many output channels
per group (ResNeXt's first two stages), 3x3 at stride 1 or 2, undilated
(src/cpu/grouped_direct/grouped_nhwc_runs.inl, AVX2 and AVX-512, whole
vectors of outputs; float64 groups of 4 only): lanes over output channels,
each input channel shuffled to its group's lanes, runs of 8 (AVX2) or 16
pixels sharing each input vector, the next row's lines requested on the way.

Against the float64 reference in every ISA family (the others, and output
counts that do not fill whole vectors, take the general kernels) and both
dtypes, over the run patterns (one run narrower than a run, overlapping last
runs, edges), strides 1 and 2, asymmetric, absent and oversized padding,
bias and ReLU6, items cut into column blocks, a batch that streams past the
caches, and a NaN weight meeting the padding."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, cap_isa, random_array


def _nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


# (channels K, H x W, stride, padding (int or top, bottom, left, right), channels per group)
GEOMETRIES = [
    (32, (9, 20), 1, 1, 4),             # runs of 16 (AVX-512) or 8, the last overlapping
    (48, (7, 7), 1, 1, 4),              # one run narrower than a run, both edges
    (16, (5, 37), 1, 1, 4),             # one AVX-512 vector, three runs
    (32, (12, 13), 2, 1, 4),            # stride 2
    (16, (11, 34), 2, 1, 4),            # stride 2, even width, two runs
    (32, (8, 11), 1, (1, 0, 2, 1), 4),  # asymmetric
    (16, (6, 9), 1, 3, 4),              # padding wider than the window: rows of zeros
    (32, (8, 10), 1, 0, 4),             # no padding
    (24, (6, 17), 1, 1, 4),             # whole AVX2 vectors only: AVX-512 the general kernel
    (8, (6, 6), 1, 1, 4),               # one AVX2 vector
    (32, (9, 20), 1, 1, 8),             # groups of 8: two per AVX-512 vector, one per AVX2
    (16, (7, 7), 1, 1, 8),              # one run narrower than a run
    (48, (11, 18), 2, 1, 8),            # stride 2
    (32, (8, 11), 1, (1, 0, 2, 1), 8),  # asymmetric
    (24, (5, 9), 1, 1, 8),              # AVX2 vectors only
]


def _geometry_id(g):
    k, (h, w), s, p, cg = g
    return f"k{k}_{h}x{w}_s{s}_p{p if isinstance(p, int) else '-'.join(map(str, p))}_g{cg}"


def _padding(p):
    return p if isinstance(p, int) else ((p[0], p[1]), (p[2], p[3]))


def _check(k, spatial, stride, padding, cg, dtype, batch=2, seed=0, activation=None,
           weight=None, bias=True):
    x = random_array((batch, k) + spatial, dtype, seed)
    w = random_array((k, cg, 3, 3), dtype, seed + 1) if weight is None else weight
    b = random_array((k,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=_padding(padding), groups=k // cg, activation=activation,
                layout="NHWC")
    want = reference.conv2d(_nhwc(x).astype(np.float64), w.astype(np.float64),
                            None if b is None else b.astype(np.float64), **args)
    got = gconv.conv2d(_nhwc(x), w, b, **args)
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_nhwc_runs_match_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[0] + geometry[1][1])


def test_grouped_nhwc_runs_fuse_relu6():
    _check(32, (9, 20), 1, 1, 4, "float32", activation="relu6")
    _check(16, (11, 18), 2, 1, 8, "float32", activation="relu6")


@pytest.mark.parametrize("width", [17, 40])
def test_grouped_nhwc_runs_in_column_blocks_match_reference(width, restore_threads):
    # One image of three output rows on two threads: items are column blocks.
    with gconv.threads(2):
        _check(32, (3, width), 1, 1, 4, "float32", batch=1, seed=width)
        _check(32, (3, width), 1, 1, 8, "float32", batch=1, seed=width + 1)


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_grouped_nhwc_runs_nan_weight_meets_padding_as_reference(isa, restore_isa):
    cap_isa(isa)
    w = random_array((32, 4, 3, 3), np.float32, 3)
    w[5, 3, 0, 0] = np.nan    # fourth input's corner tap: padding for row and column 0
    w[30, 0, 1, 2] = np.inf   # a right tap: padding for the last column
    _check(32, (7, 9), 1, 1, 4, "float32", weight=w, bias=False)
    w8 = random_array((32, 8, 3, 3), np.float32, 4)
    w8[3, 7, 0, 0] = np.nan
    w8[29, 0, 1, 2] = np.inf
    _check(32, (7, 9), 1, 1, 8, "float32", weight=w8, bias=False)


def test_grouped_nhwc_runs_streaming_batch_matches_reference():
    # 4.2 MB each way, past the 8 MB the caches are taken to keep: the next
    # row's lines are requested while a row computes (no effect on values).
    _check(64, (32, 32), 1, 1, 4, "float32", batch=16, seed=9)
    _check(64, (32, 32), 1, 1, 8, "float32", batch=16, seed=10)
