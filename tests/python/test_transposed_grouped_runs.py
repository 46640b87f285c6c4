"""The NHWC transposed grouped convolution whose vector lanes hold whole
groups (src/cpu/transposed/transposed_grouped_runs.inl): 4 or 8 dy and
output channels per group, 3x3, stride 2, padding 1, undilated (ResNeXt's
downsampling input gradient). Runs of 16 (AVX-512) or 8 (AVX2) output
pixels read the dy columns from the run's first pixel / 2; the last run of
a row overlaps the one before from an even pixel, and dy columns past the
width read zeros. These cases put row ends at every place within a run,
channel counts that fill the AVX-512 vectors or only AVX2's (the narrower
family then runs), and a batch whose result is streamed."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_same_bits, cap_isa, off_line_empty, random_array


def _arrays(dtype, groups, per_group, h, w, batch, seed, bias=True):
    dy = random_array((batch, h, w, groups * per_group), dtype, seed)
    weight = random_array((groups * per_group, per_group, 3, 3), dtype, seed + 1)
    b = random_array((groups * per_group,), dtype, seed + 2) if bias else None
    return dy, weight, b


def _check_against_reference(dtype, groups, per_group, h, w, output_padding, bias, batch=2):
    dy, weight, b = _arrays(dtype, groups, per_group, h, w, batch, h * 31 + w, bias)
    args = dict(stride=2, padding=1, output_padding=output_padding, groups=groups)
    # Into NaN: a pixel no run writes cannot keep an earlier result's value.
    shape = (batch, 2 * h - 1 + output_padding, 2 * w - 1 + output_padding, groups * per_group)
    got = gconv.conv_transpose2d(dy, weight, b, layout="NHWC",
                                 out=np.full(shape, np.nan, dtype), **args)
    want = reference.conv_transpose2d(dy.transpose(0, 3, 1, 2).astype(np.float64),
                                      weight.astype(np.float64),
                                      None if b is None else b.astype(np.float64), **args)
    tol = (1e-5 if dtype == "float32" else 1e-12) * 9 * per_group
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=0, atol=tol * scale)


# (groups, channels per group, dy height, dy width, output_padding, bias).
# Output widths 2w - 1 + output_padding: 1 (one dy column), 4, 15 (runs of
# 8: the last from pixel 8), 16 (one whole AVX-512 run), 17 (the last run
# from 2, overlapping), 33 and 34 (two runs and a short one), 56 (s3_down).
GEOMETRIES = [
    (4, 8, 1, 1, 0, True),
    (4, 8, 2, 2, 1, False),
    (2, 8, 3, 8, 0, True),
    (4, 8, 5, 8, 1, True),
    (2, 8, 4, 9, 0, False),
    (6, 8, 3, 17, 0, True),     # 48 channels: three AVX-512 vectors
    (3, 8, 4, 17, 1, True),     # 24 channels: AVX2's vectors only
    (1, 8, 2, 28, 1, True),     # 8 channels: one AVX2 vector
    (8, 4, 3, 9, 1, True),      # groups of 4: four to an AVX-512 vector
    (2, 4, 5, 17, 0, False),    # 8 channels of groups of 4
    (6, 4, 2, 5, 1, True),      # 24 channels of groups of 4
    (32, 8, 4, 28, 1, True),    # ResNeXt s3_down's channels, 56-pixel rows
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"g{g[0]}x{g[1]}_{g[2]}x{g[3]}_op{g[4]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposed_group_runs_match_reference(isa, geometry, dtype, restore_isa):
    # float64 groups of 8 take the broadcast kernel; the reference holds either way.
    cap_isa(isa)
    _check_against_reference(dtype, *geometry)


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("output_padding", [0, 1])
def test_transposed_group_runs_streamed_have_the_bits_of_images_one_at_a_time(
        isa, output_padding, restore_isa):
    # 5 x 128 x 128 x 64 float32 outputs from 64x64 dy: 20 MiB, each image's
    # 4 MiB below the 16 MiB from which run results are streamed.
    cap_isa(isa)
    dy, weight, b = _arrays("float32", 8, 8, 64, 64, 5, 21)
    args = dict(stride=2, padding=1, output_padding=output_padding, groups=8, layout="NHWC")
    got = gconv.conv_transpose2d(dy, weight, b, **args)
    images = [gconv.conv_transpose2d(dy[n:n + 1], weight, b, **args) for n in range(5)]
    assert got.nbytes >= 16 << 20 and all(image.nbytes < 16 << 20 for image in images)
    assert_same_bits(got, np.concatenate(images), "streamed transposed group runs")


def test_transposed_group_runs_into_an_unaligned_out_keep_their_bits():
    # out= one float past a line boundary cannot take the streamed stores.
    dy, weight, b = _arrays("float32", 8, 8, 64, 64, 5, 22)
    args = dict(stride=2, padding=1, output_padding=1, groups=8, layout="NHWC")
    out = off_line_empty((5, 128, 128, 64))
    gconv.conv_transpose2d(dy, weight, b, out=out, **args)
    assert_same_bits(out, gconv.conv_transpose2d(dy, weight, b, **args), "unaligned out=")


def test_transposed_group_runs_are_the_input_gradient():
    x = random_array((2, 13, 11, 32), np.float32, 23)
    w = random_array((32, 8, 3, 3), np.float32, 24)
    dy = random_array((2, 7, 6, 32), np.float32, 25)
    got = gconv.conv2d_input_grad(x.shape, w, dy, stride=2, padding=1, groups=4, layout="NHWC")
    want = reference.conv2d_input_grad((2, 32, 13, 11), w.astype(np.float64),
                                       dy.transpose(0, 3, 1, 2).astype(np.float64), stride=2,
                                       padding=1, groups=4)
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), want, rtol=0, atol=1e-4)
