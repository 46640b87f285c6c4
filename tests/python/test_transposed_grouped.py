"""The strided transposed grouped convolution of narrow groups, computed in
one pass by its own kernels (src/cpu/transposed/transposed_grouped.inl)
rather than phase convolutions: against the reference in every ISA family,
both layouts and dtypes, over channel counts that leave partial register
blocks, the tap geometry (stride, dilation, padding, output_padding, a 9x9
whose 25 taps per phase take two passes), a result big enough for the
streaming stores, and the cases the kernels decline."""

import numpy as np
import pytest

import gconv
from gconv import _core, reference
from conftest import ALL_ISAS, cap_isa, random_array

DTYPE_CODE = {"float32": 0, "float64": 1}
LAYOUT_CODE = {"NCHW": 0, "NHWC": 1}


def _arrays(dtype, groups, dy_per_group, out_per_group, h, w, kernel, bias, batch, seed):
    dy = random_array((batch, groups * dy_per_group, h, w), dtype, seed)
    weight = random_array((groups * dy_per_group, out_per_group) + kernel, dtype, seed + 1)
    b = random_array((groups * out_per_group,), dtype, seed + 2) if bias else None
    return dy, weight, b


def _want(dy, weight, b, groups, **args):
    return reference.conv_transpose2d(dy.astype(np.float64), weight.astype(np.float64),
                                      None if b is None else b.astype(np.float64), groups=groups,
                                      **args)


def _assert_close(got, want, dtype, kernel, dy_per_group):
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0,
                               atol=tol * scale * kernel[0] * kernel[1] * dy_per_group)


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _check(layout, dtype, groups, dy_per_group, out_per_group, h, w, kernel, stride, padding,
           output_padding, dilation, bias, batch=2, seed=0):
    dy, weight, b = _arrays(dtype, groups, dy_per_group, out_per_group, h, w, kernel, bias,
                            batch, seed)
    args = dict(stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation)
    want = _want(dy, weight, b, groups, **args)
    got = gconv.conv_transpose2d(dy if layout == "NCHW" else _nhwc(dy), weight, b,
                                 groups=groups, layout=layout, **args)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    _assert_close(got, want, dtype, kernel, dy_per_group)


# (groups, dy channels per group, output channels per group, h, w, kernel,
#  stride, padding, output_padding, dilation, bias)
GEOMETRIES = [
    (4, 8, 8, 7, 9, (3, 3), 2, 1, 1, 1, True),       # ResNeXt's stride 2
    (2, 3, 5, 6, 6, (3, 3), 2, 1, 0, 1, False),      # 5 channels: blocks 4 + 1 (AVX2), 5
    (3, 4, 6, 5, 4, (5, 5), 2, 2, 1, 1, True),       # 6: blocks 4 + 2, or 6
    (2, 4, 15, 5, 7, (3, 3), 2, 1, 1, 1, True),      # 15: blocks 4 + 4 + 4 + 3, or 8 + 7
    (2, 16, 16, 4, 7, (3, 2), (2, 3), (1, 0), (1, 2), 1, False),  # asymmetric everything
    (2, 8, 3, 5, 6, (3, 3), 3, 0, 2, 1, True),       # stride 3: a phase some rows never reach
    (2, 8, 8, 6, 5, (3, 3), 2, 2, 1, 2, True),       # dilation 2 (taps all in one phase)
    (2, 4, 8, 3, 3, (1, 1), 2, 0, 1, 1, True),       # 1x1: three phases get only the bias
    (2, 2, 8, 4, 6, (9, 9), 2, 4, 1, 1, True),       # 25 taps per phase: two passes
    (4, 8, 8, 1, 9, (3, 3), 2, 1, 1, 1, False),      # one input row
    (2, 8, 16, 9, 1, (4, 4), 4, 1, 3, 1, True),      # one input column, stride 4
    (4, 1, 8, 5, 5, (3, 3), 2, 1, 1, 1, False),      # one dy channel per group
    (2, 32, 32, 5, 5, (3, 3), 2, 1, 1, 1, True),     # the widest groups the kernels take
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"g{g[0]}_{g[1]}to{g[2]}_{g[3]}x{g[4]}_k{g[5]}_s{g[6]}")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_transposed_grouped_matches_reference(isa, geometry, layout, dtype,
                                                      restore_isa):
    cap_isa(isa)
    _check(layout, dtype, *geometry, seed=geometry[1] + geometry[2])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("geometry", [GEOMETRIES[0], GEOMETRIES[3], GEOMETRIES[7]],
                         ids=["resnext", "asymmetric", "two_passes"])
def test_narrow_groups_take_the_one_pass_kernels(geometry, layout):
    # The route itself: 16 output channels per group fit every family's
    # vector lanes, so NHWC is taken too (8 only where lanes divide it).
    groups, kg, cg, h, w, kernel, stride, padding, output_padding, dilation, bias = geometry
    dy, weight, b = _arrays("float32", groups, kg, cg, h, w, kernel, bias, 2, 5)
    args = dict(stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation)
    want = _want(dy, weight, b, groups, **args)
    y = np.full((2, groups * cg) + want.shape[2:], np.nan, np.float32)
    stride2 = (stride,) * 2 if isinstance(stride, int) else stride
    pads = (padding,) * 2 if isinstance(padding, int) else padding
    dil = (dilation,) * 2 if isinstance(dilation, int) else dilation
    if layout == "NHWC":
        dy, y = _nhwc(dy), _nhwc(y)
    taken = _core.transposed_grouped(DTYPE_CODE["float32"], LAYOUT_CODE[layout], dy, weight,
                                     groups, b, y, stride2, pads, dil)
    assert taken or (layout == "NHWC" and cg % 16 != 0)
    if taken:
        got = y if layout == "NCHW" else y.transpose(0, 3, 1, 2)
        _assert_close(got, want, "float32", kernel, kg)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_wide_groups_are_declined_without_writing(layout):
    # 64 x 64 weights per tap: the phase convolutions (GEMMs) are faster.
    dy = random_array((1, 128, 3, 3), "float32", 1)
    weight = random_array((128, 64, 3, 3), "float32", 2)
    y = np.full((1, 128, 6, 6), 7.0, np.float32)
    if layout == "NHWC":
        dy, y = _nhwc(dy), _nhwc(y)
    assert not _core.transposed_grouped(0, LAYOUT_CODE[layout], dy, weight, 2, None, y, (2, 2),
                                        (1, 1), (1, 1))
    assert (y == 7.0).all()
    # ... and conv_transpose2d still computes them, through the phases.
    _check(layout, "float32", 2, 64, 64, 3, 3, (3, 3), 2, 1, 1, 1, False, batch=1, seed=3)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_strided_transposed_grouped_of_a_big_batch_matches_reference(layout):
    # 3 x 16 x 130 x 258 float32 results: 2.1 MB per image, past the 8 MiB
    # beyond which NCHW rows are written with streaming stores (258 wide:
    # rows start at every 8-byte offset, so aligned and unaligned rows).
    _check(layout, "float32", 2, 4, 8, 65, 129, (3, 3), 2, 1, (1, 1), 1, True, batch=4, seed=9)


def _placed(shape, dtype, byte_offset):
    """An empty array whose data start ``byte_offset`` bytes past a cache line."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + 128, np.uint8)
    start = -raw.ctypes.data % 64 + byte_offset
    return raw[start:start + nbytes].view(dtype).reshape(shape)


@pytest.mark.parametrize("width", [128, 28])
def test_strided_transposed_grouped_bits_do_not_depend_on_where_the_result_lies(width):
    # 8 x 16 x 66 x 2 * width float32 results. Rows of 256 values on whole
    # lines take the streaming stores (past 8 MiB), rows of 56 and rows
    # off the lines the ordinary ones: every placement, the same bits.
    batch = 8 if width == 128 else 2
    dy, weight, b = _arrays("float32", 2, 4, 8, 33, width, (3, 3), True, batch, seed=5)
    args = dict(stride=2, padding=1, output_padding=1, groups=2, layout="NCHW")
    shape = (batch, 16, 66, 2 * width)
    results = []
    for offset in (0, 16, 32):
        out = _placed(shape, np.float32, offset)
        results.append(gconv.conv_transpose2d(dy, weight, b, out=out, **args))
    for got in results[1:]:
        assert got.tobytes() == results[0].tobytes()
    want = _want(dy, weight, b, 2, stride=2, padding=1, output_padding=1)
    _assert_close(results[0], want, "float32", (3, 3), 4)


def test_strided_transposed_grouped_is_the_input_gradient():
    x = random_array((2, 16, 9, 8), np.float64, 3)
    w = random_array((24, 4, 3, 3), np.float64, 4)
    dy = random_array((2, 24, 5, 4), np.float64, 5)
    got = gconv.conv2d_input_grad(x.shape, w, dy, stride=2, padding=1, groups=4)
    want = reference.conv2d_input_grad(x.shape, w, dy, stride=2, padding=1, groups=4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("groups, dy_per_group, out_per_group", [(4, 1, 1), (2, 4, 4)],
                         ids=["depthwise", "grouped"])
def test_nonfinite_weight_gives_the_same_nan_in_both_layouts(groups, dy_per_group,
                                                             out_per_group):
    # The one-pass kernels skip taps outside dy; the phase convolutions
    # multiply their zero padding. An infinite weight must give NaN at the
    # borders whichever route and layout runs (README: "an infinite weight
    # gives NaN there"), so such weights take the phases.
    dy, weight, _ = _arrays("float64", groups, dy_per_group, out_per_group, 4, 5, (3, 3), False,
                            1, 8)
    weight[0, 0, 0, 0] = np.inf
    args = dict(stride=2, padding=1, output_padding=1, groups=groups)
    nchw = gconv.conv_transpose2d(dy, weight, **args)
    nhwc = gconv.conv_transpose2d(_nhwc(dy), weight, layout="NHWC", **args).transpose(0, 3, 1, 2)
    assert np.array_equal(np.isnan(nchw), np.isnan(nhwc))
    want = _want(dy, weight, None, groups, stride=2, padding=1, output_padding=1, dilation=1)
    assert np.isnan(nchw).sum() > np.isnan(want).sum()  # the padding's NaN too
    finite = np.isfinite(want) & np.isfinite(nchw)
    np.testing.assert_allclose(nchw[finite], want[finite], rtol=0, atol=1e-10)
