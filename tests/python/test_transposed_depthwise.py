"""The strided transposed depthwise convolution (multiplier 1), computed in
one pass by its own kernels (src/cpu/transposed/transposed_dw.inl) rather
than phase convolutions: against the reference in every ISA family, both
layouts and dtypes, over the geometry that decides which taps reach which
output (stride, dilation, padding, output_padding, kernel sizes up to a
9x9 whose 25 taps per phase take two passes), and a batch whose result is
big enough for the streaming stores."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, random_array


def _check(layout, dtype, c, h, w, kernel, stride, padding, output_padding, dilation, bias,
           batch=2, seed=0):
    x = random_array((batch, c, h, w), dtype, seed)
    weight = random_array((c, 1) + kernel, dtype, seed + 1)
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
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"c{g[0]}_{g[1]}x{g[2]}_k{g[3]}_s{g[4]}")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_transposed_depthwise_matches_reference(isa, geometry, layout, dtype,
                                                        restore_isa):
    if isa not in gconv.build_info()["isa_supported"]:
        pytest.skip(f"this CPU cannot run {isa}")
    gconv._set_max_isa(isa)
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
