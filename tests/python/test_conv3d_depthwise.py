"""Depthwise conv3d (multiplier 1) in one pass by its own kernels
(src/cpu/depthwise/dwconv3d.inl): against the reference in every ISA
family, both layouts and dtypes, over strides, dilations, asymmetric
padding (taps in the depth, height and width padding), channel counts that
leave vector tails, rows longer than one register block (and, read in
place with AVX-512, rows of one to sixteen vectors), the activations; the
in-place rows sum as the copied ones (the same bits);
a NaN weight poisons its whole channel, padding included, as in the
reference; and the cases the kernels decline still compute."""

import numpy as np
import pytest

import gconv
from gconv import _core, reference
from conftest import ALL_ISAS, cap_isa, random_array


def _check(layout, dtype, c, spatial, kernel, stride, padding, dilation, bias, activation,
           batch=2, seed=0):
    x = random_array((batch, c) + spatial, dtype, seed)
    w = random_array((c, 1) + kernel, dtype, seed + 1)
    b = random_array((c,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=c)
    want = reference.conv3d(x.astype(np.float64), w.astype(np.float64),
                            None if b is None else b.astype(np.float64), **args)
    if activation is not None:
        want = np.maximum(want, 0)
    if activation == "relu6":
        want = np.minimum(want, 6)
    xa = x if layout == "NCDHW" else np.ascontiguousarray(np.moveaxis(x, 1, -1))
    got = gconv.conv3d(xa, w, b, layout=layout, activation=activation, **args)
    if layout == "NDHWC":
        got = np.moveaxis(got, -1, 1)
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * int(np.prod(kernel)))


# (channels, input D x H x W, kernel, stride, padding, dilation, bias, activation)
GEOMETRIES = [
    (8, (4, 6, 7), (3, 3, 3), 1, 1, 1, True, None),                  # the common case
    (5, (5, 5, 6), (3, 3, 3), 2, 1, 1, False, "relu"),               # stride 2, channel tail
    (19, (3, 4, 40), (3, 3, 3), 1, 1, 1, True, "relu6"),             # rows of 40: two blocks
    (16, (6, 5, 5), (3, 2, 3), (2, 1, 1), ((1, 2), (0, 1), (2, 0)), 1, True, None),
    (4, (7, 6, 6), (3, 3, 2), 1, ((3, 0), (1, 1), (0, 1)), (2, 1, 2), False, None),
    (3, (2, 3, 3), (3, 3, 3), 1, 2, 1, True, None),                  # every output reads padding
    (9, (5, 9, 9), (1, 5, 5), (1, 2, 1), 2, 1, True, None),          # one depth tap
    (6, (9, 3, 4), (5, 1, 1), (2, 1, 1), (2, 0, 0), (1, 1, 1), False, "relu"),  # depth only
    # AVX-512 reads stride-1 3x3 slices in place (masked loads), output rows
    # in chunks of up to four vectors:
    (4, (3, 5, 28), (3, 3, 3), 1, 1, 1, True, "relu"),               # two vectors
    (3, (2, 4, 100), (3, 3, 3), 1, 1, 1, True, None),                # chunks of four and three
    (2, (2, 3, 256), (3, 3, 3), 1, 1, 1, False, None),               # sixteen, the most
    (2, (2, 3, 257), (3, 3, 3), 1, 1, 1, False, None),               # one past: copied rows
    (3, (4, 20, 9), (5, 3, 3), 1, (2, 1, 1), 1, True, None),         # five depth taps, 20 rows
    (3, (3, 6, 30), (3, 3, 3), 1, ((1, 0), (0, 2), (2, 1)), 1, True, "relu6"),  # asymmetric
    # NDHWC 3-wide rows run 7 or 8 pixels a vector of channels, the edge
    # runs reading one column of the padding; channels past the vectors
    # pixel by pixel:
    (37, (3, 4, 28), (3, 3, 3), 1, 1, 1, True, None),                # four 7-runs
    (20, (2, 3, 7), (3, 3, 3), 1, 1, 1, True, "relu"),               # one 7-run, both edges
    (33, (2, 3, 8), (3, 3, 3), 1, 1, 1, False, None),                # one 8-run, both edges
    (16, (2, 4, 23), (3, 3, 3), 1, 1, 1, True, None),                # the last run overlapping
    (17, (2, 3, 5), (3, 3, 3), 1, 1, 1, True, None),                 # narrower than a run
    (24, (3, 5, 18), (3, 3, 3), 1, 0, 1, True, None),                # no padding: no edge runs
    (16, (2, 4, 12), (3, 3, 3), 1, (1, 1, 2), 1, False, None),       # two columns: pixels
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"c{g[0]}_{'x'.join(map(str, g[1]))}_k{''.join(map(str, g[2]))}")
@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_conv3d_matches_reference(isa, geometry, layout, dtype, restore_isa):
    cap_isa(isa)
    _check(layout, dtype, *geometry, seed=geometry[0])


@pytest.mark.parametrize("layout", [0, 1])
def test_depthwise_conv3d_takes_the_one_pass_kernels(layout):
    x = random_array((1, 4, 3, 5, 5), "float32", 1)
    w = random_array((4, 1, 3, 3, 3), "float32", 2)
    y = np.full((1, 4, 3, 5, 5), np.nan, np.float32)
    if layout == 1:
        x, y = np.moveaxis(x, 1, -1).copy(), np.moveaxis(y, 1, -1).copy()
    assert _core.depthwise_conv3d(0, layout, x, w, None, y, (1, 1, 1), (1, 1, 1), (1, 1, 1), 0)
    want = reference.conv3d(random_array((1, 4, 3, 5, 5), "float32", 1), w, groups=4, padding=1)
    got = y if layout == 0 else np.moveaxis(y, -1, 1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
def test_nan_weight_poisons_its_whole_channel(layout):
    # Padding taps multiply zeros, as in the reference: every output of the
    # channel, including those whose tap lands in the depth padding.
    x = random_array((1, 3, 4, 5, 5), "float64", 3)
    w = random_array((3, 1, 3, 3, 3), "float64", 4)
    w[1, 0, 0, 0, 0] = np.nan
    xa = x if layout == "NCDHW" else np.ascontiguousarray(np.moveaxis(x, 1, -1))
    got = gconv.conv3d(xa, w, groups=3, padding=1, layout=layout)
    if layout == "NDHWC":
        got = np.moveaxis(got, -1, 1)
    assert np.isnan(got[:, 1]).all()
    assert np.isfinite(got[:, [0, 2]]).all()
    assert np.isnan(reference.conv3d(x, w, groups=3, padding=1)[:, 1]).all()


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_nan_weight_meets_the_padding_in_the_edge_runs(isa, restore_isa):
    # A NaN in kernel column 0 of channel 5: the left edge run multiplies it
    # by the padding's zeros, NaN as in the reference, like every other pixel.
    cap_isa(isa)
    x = random_array((1, 40, 2, 3, 28), "float32", 10)
    w = random_array((40, 1, 3, 3, 3), "float32", 11)
    w[5, 0, 1, 1, 0] = np.nan
    got = gconv.conv3d(np.ascontiguousarray(np.moveaxis(x, 1, -1)), w, groups=40, padding=1,
                       layout="NDHWC")
    assert np.isnan(got[..., 5]).all()
    assert np.isfinite(np.delete(got, 5, axis=-1)).all()


def test_declined_geometries_still_compute():
    # NCDHW with a column stride of 2, and 9 x 8 (depth tap, row) pairs
    # past the kernels' 64: both by depth taps instead.
    y = np.zeros((1, 2, 3, 3, 2), np.float32)
    x = random_array((1, 2, 3, 3, 4), "float32", 5)
    w = random_array((2, 1, 1, 1, 1), "float32", 6)
    assert not _core.depthwise_conv3d(0, 0, x, w, None, y, (1, 1, 2), (0, 0, 0), (1, 1, 1), 0)
    assert (y == 0).all()
    _check("NCDHW", "float32", 3, (4, 5, 9), (3, 3, 3), (1, 1, 2), 1, 1, True, None)
    _check("NDHWC", "float64", 2, (9, 8, 3), (9, 8, 1), 1, 0, 1, False, None, batch=1)


def test_depthwise_conv3d_in_place_rows_have_the_bits_of_copied_rows():
    # The left columns of 300-wide slices (copied rows) recomputed from a
    # 41-wide slice of the input (read in place with AVX-512) give the same
    # bits: both sum depth tap, kernel row, kernel column, then the bias.
    x = random_array((1, 3, 4, 6, 300), "float32", 7)
    w = random_array((3, 1, 3, 3, 3), "float32", 8)
    b = random_array((3,), "float32", 9)
    full = gconv.conv3d(x, w, b, padding=1, groups=3)
    narrow = gconv.conv3d(np.ascontiguousarray(x[..., :41]), w, b, groups=3,
                          padding=((1, 1), (1, 1), (1, 0)))
    np.testing.assert_array_equal(narrow, full[..., :40])
