"""The transposed depthwise convolution computed in one pass by its own
kernels (src/cpu/transposed/transposed_dw.inl) rather than phase or grouped
convolutions: multiplier 1 strided, both layouts, and multiplier 2 (two dy
channels into each output) in NHWC at any stride. Against the reference in
every ISA family and both dtypes, over the geometry that decides which taps
reach which output (stride, dilation, padding, output_padding, kernel sizes
up to a 9x9 whose 25 taps per phase take two passes), channel counts that
leave vector tails, and a batch whose result is big enough for the
streaming stores; and which calls take the route."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, cap_isa, random_array


def _check(layout, dtype, c, h, w, kernel, stride, padding, output_padding, dilation, bias,
           batch=2, seed=0, multiplier=1):
    x = random_array((batch, c * multiplier, h, w), dtype, seed)
    weight = random_array((c * multiplier, 1) + kernel, dtype, seed + 1)
    b = random_array((c,), dtype, seed + 2) if bias else None
    args = dict(stride=stride, padding=padding, output_padding=output_padding, groups=c,
                dilation=dilation)
    want = reference.conv_transpose2d(x.astype(np.float64), weight.astype(np.float64),
                                      None if b is None else b.astype(np.float64), **args)
    xa = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = gconv.conv_transpose2d(xa, weight, b, layout=layout, **args)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * kernel[0] * kernel[1])


# (channels, h, w, kernel, stride, padding, output_padding, dilation, bias)
GEOMETRIES = [
    (5, 7, 9, (3, 3), 2, 1, 1, 1, True),           # MobileNet's stride 2, odd channels
    (16, 6, 6, (3, 3), 2, 1, 0, 1, False),         # a full vector of channels, even output
    (3, 5, 4, (5, 5), 2, 2, 1, 1, True),
    (4, 4, 7, (3, 2), (2, 3), (1, 0), (1, 2), 1, False),  # asymmetric everything
    (9, 5, 6, (3, 3), 3, 0, 2, 1, True),           # stride 3: a phase some rows never reach
    (6, 6, 5, (3, 3), 2, 2, 1, 2, True),           # dilation 2 (taps all in one phase)
    (7, 4, 5, (2, 3), 2, ((1, 0), (0, 2)), 0, (1, 3), False),
    (3, 3, 3, (1, 1), 2, 0, 1, 1, True),           # 1x1: three phases get only the bias
    (2, 4, 6, (9, 9), 2, 4, 1, 1, True),           # 25 taps per phase: two passes
    (12, 1, 9, (3, 3), 2, 1, 1, 1, False),         # one input row
    (8, 9, 1, (4, 4), 4, 1, 3, 1, True),           # one input column, stride 4
    # 3x3, stride 2, padding 1, input rows over 16 wide: the AVX-512 float32
    # NCHW kernel of its own (vectors of 16 dy columns, the last overlapping)
    (5, 7, 17, (3, 3), 2, 1, 0, 1, True),          # one vector and the last column
    (3, 6, 40, (3, 3), 2, 1, 1, 1, False),         # two vectors and an overlapping third
    (4, 5, 33, (3, 3), 2, 1, (1, 0), 1, True),     # odd output width: no last odd column
    (2, 1, 20, (3, 3), 2, 1, 1, 1, True),          # one input row: odd rows from it alone
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"c{g[0]}_{g[1]}x{g[2]}_k{g[3]}_s{g[4]}")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_transposed_depthwise_matches_reference(isa, geometry, layout, dtype,
                                                        restore_isa):
    cap_isa(isa)
    _check(layout, dtype, *geometry, seed=len(geometry[3]) + geometry[0])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_strided_transposed_depthwise_of_a_big_batch_matches_reference(layout):
    # 3 x 8 x 130 x 258 float32 results: 3.2 MB per image, past the 8 MiB
    # beyond which NCHW rows are written with streaming stores (258 wide:
    # rows start at every 8-byte offset, so aligned and unaligned rows).
    _check(layout, "float32", 8, 65, 129, (3, 3), 2, 1, (1, 1), 1, True, batch=3, seed=9)


def test_strided_transposed_depthwise_is_the_input_gradient():
    x = random_array((2, 6, 9, 8), np.float64, 3)
    w = random_array((6, 1, 3, 3), np.float64, 4)
    dy = random_array((2, 6, 5, 4), np.float64, 5)
    got = gconv.conv2d_input_grad(x.shape, w, dy, stride=2, padding=1, groups=6)
    want = reference.conv2d_input_grad(x.shape, w, dy, stride=2, padding=1, groups=6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# Multiplier 2 (channels are the outputs; dy has twice as many): stride 1
# (the input gradient of MobileNet-style multiplier-2 layers) and strided.
MULTIPLIER_2 = [
    (32, 6, 7, (3, 3), 1, 1, 0, 1, True),          # dw_mult2's shape, small
    (5, 5, 6, (3, 3), 1, 1, 0, 1, False),          # 10 dy channels: all tail
    (19, 4, 5, (3, 3), 2, 1, 1, 1, True),          # stride 2, a vector and a tail
    (8, 6, 5, (5, 3), (1, 2), (2, 0), (0, 1), (1, 2), False),
    (16, 3, 4, (9, 9), 1, 4, 0, 1, True),          # 81 taps: six passes
    (12, 1, 7, (3, 3), 1, 1, 0, 1, False),         # one input row
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", MULTIPLIER_2,
                         ids=lambda g: f"c{g[0]}_{g[1]}x{g[2]}_k{g[3]}_s{g[4]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multiplier_two_transposed_depthwise_nhwc_matches_reference(isa, geometry, dtype,
                                                                   restore_isa):
    cap_isa(isa)
    _check("NHWC", dtype, *geometry, seed=geometry[0], multiplier=2)


def test_multiplier_two_input_gradient_matches_reference_in_both_layouts():
    x = random_array((2, 6, 8, 7), np.float64, 6)
    w = random_array((12, 1, 3, 3), np.float64, 7)
    dy = random_array((2, 12, 8, 7), np.float64, 8)
    want = reference.conv2d_input_grad(x.shape, w, dy, padding=1, groups=6)
    got = gconv.conv2d_input_grad(x.shape, w, dy, padding=1, groups=6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    got = gconv.conv2d_input_grad((2, 8, 7, 6), w, np.ascontiguousarray(dy.transpose(0, 2, 3, 1)),
                                  padding=1, groups=6, layout="NHWC")
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=0, atol=1e-12)


@pytest.fixture
def taken_by_kernels(monkeypatch):
    """What each call of the one-pass kernels returned (True: it wrote the
    result; False: it declined)."""
    returned = []
    real = gconv._core.transposed_depthwise

    def recording(*args, **kwargs):
        returned.append(real(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(gconv._core, "transposed_depthwise", recording)
    return returned


@pytest.mark.parametrize("layout,stride,multiplier,weight_value,kernel,taken", [
    ("NHWC", 1, 2, 1.0, 5, True),
    ("NHWC", 1, 2, 1.0, 3, False),     # a grouped conv2d of dy channel pairs
    ("NHWC", 2, 2, 1.0, 3, True),
    ("NCHW", 1, 2, 1.0, 3, False),     # the grouped route
    ("NHWC", 1, 2, np.inf, 5, False),  # non-finite weights: NaN at the borders (README)
    ("NHWC", 2, 1, 1.0, 3, True),
    ("NHWC", 1, 1, 1.0, 3, False),     # a depthwise forward convolution
    ("NHWC", 1, 3, 1.0, 3, False),
])
def test_transposed_depthwise_route_takes_the_kernels_it_has(taken_by_kernels, layout, stride,
                                                             multiplier, weight_value, kernel,
                                                             taken):
    c = 4
    w = np.full((c * multiplier, 1, kernel, kernel), 1.0, np.float32)
    w[0, 0, 1, 1] = weight_value
    x = np.ones((1, c * multiplier, 5, 5), np.float32)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    gconv.conv_transpose2d(x, w, stride=stride, padding=1, groups=c, layout=layout)
    assert any(taken_by_kernels) == taken


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kernel,width", [(3, 6), (3, 64), (5, 64)])
def test_nchw_transposed_depthwise_takes_one_pass_only_where_it_beats_the_phases(
        taken_by_kernels, isa, dtype, kernel, width, restore_isa):
    # NCHW strided depthwise: AVX-512's float32 3x3 stride-2 row kernel at
    # any width; otherwise up to nine taps on phase rows of two vectors or
    # more (64 columns are that in every family); never 5x5 (the phases'
    # convolutions run faster). Declined calls write nothing and the phases
    # give the same result.
    cap_isa(isa)
    active = gconv.build_info()["isa_active"]
    if kernel == 5:
        expected = False
    elif width == 64 or (active == "avx512" and dtype == "float32"):
        expected = True
    elif active in ("avx2", "avx512"):
        expected = False  # 6 columns: under two vectors of 4 or more lanes
    else:
        pytest.skip("the portable family's vector width decides")
    _check("NCHW", dtype, 3, 4, width, (kernel, kernel), 2, kernel // 2, 1, 1, True)
    assert taken_by_kernels == [expected]
