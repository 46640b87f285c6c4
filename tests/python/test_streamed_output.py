"""NHWC results of 16 MiB or more from the depthwise and grouped run kernels,
and NCHW results of rows of whole cache lines from the wide-rows kernel,
are stored non-temporally (Vec::stream, kStreamedOutputBytes in
src/cpu/common/prefetch.hpp) when the result is line-aligned and each
pixel fills whole lines; so are the strided depthwise transposed
convolution's beyond 8 MiB (kStreamBytes, as its NCHW rows, and the
AVX-512 3x3 stride-2 NCHW kernel's rows of whole lines). Only the
stores differ, so a batch large enough to stream gives the same bits as
its images convolved one at a time (each result below the bound), in
every ISA family; results that cannot stream (an unaligned out=, pixels
of 24 channels) stay correct too."""

import numpy as np
import pytest

import gconv
from conftest import ALL_ISAS, assert_same_bits, cap_isa, off_line_empty, random_array

STREAMED_BYTES = 16 << 20


def _one_at_a_time(x, weight, **kwargs):
    images = [gconv.conv2d(x[n:n + 1], weight, layout="NHWC", **kwargs)
              for n in range(x.shape[0])]
    assert all(image.nbytes < STREAMED_BYTES for image in images)
    return np.concatenate(images)


# (batch, H x W, channels, weight shape, stride, groups)
CASES = [
    (4, (256, 256), 16, (16, 1, 3, 3), 1, 16),    # depthwise 3x3
    (4, (272, 256), 16, (16, 1, 5, 5), 1, 16),    # depthwise 5x5
    (4, (512, 512), 16, (16, 1, 3, 3), 2, 16),    # depthwise 3x3, stride 2
    (4, (128, 128), 64, (64, 4, 3, 3), 1, 16),    # grouped runs, 4 channels per group
    (4, (256, 256), 64, (64, 8, 3, 3), 2, 8),     # grouped runs, 8 per group, stride 2
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}_c{c[2]}_k{c[3][2]}_s{c[4]}_g{c[5]}")
def test_streamed_nhwc_result_has_the_bits_of_images_one_at_a_time(isa, case, restore_isa):
    cap_isa(isa)
    batch, (h, w), c, weight_shape, stride, groups = case
    x = random_array((batch, h, w, c), np.float32, batch + c)
    weight = random_array(weight_shape, np.float32, 1)
    kwargs = dict(stride=stride, padding=weight_shape[2] // 2, groups=groups)
    got = gconv.conv2d(x, weight, layout="NHWC", **kwargs)
    assert got.nbytes >= STREAMED_BYTES
    assert_same_bits(got, _one_at_a_time(x, weight, **kwargs), "streamed NHWC result")


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_streamed_bias_and_activation_match_images_one_at_a_time(isa, restore_isa):
    cap_isa(isa)
    x = random_array((4, 256, 256, 16), np.float32, 3)
    weight = random_array((16, 1, 3, 3), np.float32, 4)
    bias = random_array((16,), np.float32, 5)
    kwargs = dict(padding=1, groups=16, bias=bias, activation="relu6")
    got = gconv.conv2d(x, weight, layout="NHWC", **kwargs)
    assert_same_bits(got, _one_at_a_time(x, weight, **kwargs), "streamed result with bias, relu6")


def test_result_into_an_unaligned_out_is_stored_whole():
    # out= one float past a line boundary: no streamed (aligned) stores.
    x = random_array((4, 256, 256, 16), np.float32, 6)
    weight = random_array((16, 1, 3, 3), np.float32, 7)
    out = off_line_empty(x.shape)
    gconv.conv2d(x, weight, padding=1, groups=16, layout="NHWC", out=out)
    assert_same_bits(out, _one_at_a_time(x, weight, padding=1, groups=16), "unaligned out=")


def test_pixels_of_partial_lines_are_stored_whole():
    # 24 channels: 96 bytes a pixel, no streamed stores.
    x = random_array((4, 256, 272, 24), np.float32, 8)
    weight = random_array((24, 1, 3, 3), np.float32, 9)
    got = gconv.conv2d(x, weight, padding=1, groups=24, layout="NHWC")
    assert got.nbytes >= STREAMED_BYTES
    assert_same_bits(got, _one_at_a_time(x, weight, padding=1, groups=24), "24 channels")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("output_padding", [0, 1])
def test_streamed_depthwise_transposed_nhwc_has_the_bits_of_images_one_at_a_time(
        isa, output_padding, restore_isa):
    # Stride 2 from 128x128: 4 x 256x256 x 16 float32 outputs, 16 MiB
    # (each image's 4 MiB below the bound).
    cap_isa(isa)
    dy = random_array((4, 128, 128, 16), np.float32, 10)
    weight = random_array((16, 1, 3, 3), np.float32, 11)
    bias = random_array((16,), np.float32, 12)
    kwargs = dict(stride=2, padding=1, output_padding=output_padding, groups=16, layout="NHWC")
    got = gconv.conv_transpose2d(dy, weight, bias, **kwargs)
    images = [gconv.conv_transpose2d(dy[n:n + 1], weight, bias, **kwargs) for n in range(4)]
    assert got.nbytes > 8 << 20 and all(image.nbytes < 8 << 20 for image in images)
    assert_same_bits(got, np.concatenate(images), "streamed transposed depthwise NHWC")


# (dy H x W, channels): the NCHW 3x3 stride-2 kernel (AVX-512 float32)
# streams output rows of whole lines beyond 8 MiB: rows of 128 (two vectors
# of dy columns per store pair) and of 80 (a last store of one line).
TRANSPOSED_NCHW_CASES = [((64, 64), 40), ((40, 40), 96)]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("case", TRANSPOSED_NCHW_CASES, ids=lambda c: f"{c[0][1]}w_c{c[1]}")
def test_streamed_depthwise_transposed_nchw_has_the_bits_of_images_one_at_a_time(
        isa, case, restore_isa):
    cap_isa(isa)
    (h, w), channels = case
    dy = random_array((4, channels, h, w), np.float32, h + channels)
    weight = random_array((channels, 1, 3, 3), np.float32, 17)
    bias = random_array((channels,), np.float32, 18)
    kwargs = dict(stride=2, padding=1, output_padding=1, groups=channels)
    got = gconv.conv_transpose2d(dy, weight, bias, **kwargs)
    images = [gconv.conv_transpose2d(dy[n:n + 1], weight, bias, **kwargs) for n in range(4)]
    assert got.nbytes > 8 << 20 and all(image.nbytes < 8 << 20 for image in images)
    want = np.concatenate(images)
    assert_same_bits(got, want, "streamed transposed depthwise NCHW")
    out = off_line_empty(want.shape)  # not line-aligned: stored as usual
    gconv.conv_transpose2d(dy, weight, bias, out=out, **kwargs)
    assert_same_bits(out, want, "transposed depthwise NCHW into an unaligned out=")


# NCHW: the wide-rows kernel (AVX-512, 3x3) streams rows of whole lines
# (16 float32 or 8 float64 columns a line), and rows that are not by blocks
# of rows that are, where every plane is whole lines (streams_nchw_planes).
# Other families run other kernels; the bits must match image by image
# anyway.
# (batch, channels, H x W, weight shape, stride, groups, dtype)
NCHW_CASES = [
    (4, 16, (256, 256), (16, 1, 3, 3), 1, 16, np.float32),    # rows of 16 lines
    (4, 128, (64, 64), (128, 1, 3, 3), 1, 128, np.float64),   # rows of 8 lines
    (4, 256, (128, 128), (256, 1, 3, 3), 2, 256, np.float32),  # stride 2: rows of 4 lines
    (4, 64, (128, 128), (64, 4, 3, 3), 1, 16, np.float32),    # grouped, 4 channels a group
    (4, 336, (56, 56), (336, 1, 3, 3), 1, 336, np.float32),   # rows of 3.5 lines: blocks of 4
    (4, 336, (56, 56), (336, 4, 3, 3), 1, 84, np.float32),    # grouped: stored as usual
    (4, 1824, (24, 24), (1824, 1, 3, 3), 1, 1824, np.float32),  # 1.5 lines: blocks of 8 rows
    (4, 672, (28, 28), (672, 1, 3, 3), 1, 672, np.float64),   # float64 rows of 3.5 lines
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("case", NCHW_CASES,
                         ids=lambda c: f"n{c[0]}_c{c[1]}_{c[2][1]}w_s{c[4]}_g{c[5]}_"
                                       f"{np.dtype(c[6]).name}")
def test_streamed_nchw_rows_have_the_bits_of_images_one_at_a_time(isa, case, restore_isa):
    cap_isa(isa)
    batch, c, (h, w), weight_shape, stride, groups, dtype = case
    x = random_array((batch, c, h, w), dtype, c + h)
    weight = random_array(weight_shape, dtype, 13)
    bias = random_array((weight_shape[0],), dtype, 14)
    kwargs = dict(stride=stride, padding=1, groups=groups, bias=bias, activation="relu6")
    got = gconv.conv2d(x, weight, **kwargs)
    images = [gconv.conv2d(x[n:n + 1], weight, **kwargs) for n in range(batch)]
    assert got.nbytes >= STREAMED_BYTES and all(i.nbytes < STREAMED_BYTES for i in images)
    assert_same_bits(got, np.concatenate(images), "streamed NCHW rows")


def test_nchw_rows_into_an_unaligned_out_are_stored_whole():
    x = random_array((4, 16, 256, 256), np.float32, 15)
    weight = random_array((16, 1, 3, 3), np.float32, 16)
    out = off_line_empty(x.shape)
    gconv.conv2d(x, weight, padding=1, groups=16, out=out)
    images = [gconv.conv2d(x[n:n + 1], weight, padding=1, groups=16) for n in range(4)]
    assert_same_bits(out, np.concatenate(images), "unaligned NCHW out=")
