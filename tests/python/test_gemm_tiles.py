"""How im2col_gemm and gemm_1x1 cut their work (src/cpu/conv_gemm/conv_gemm.cpp,
src/cpu/gemm/macro_kernel.hpp): NHWC pixel tiles that run on from one image
into the next, tiles of whole micro-panels shared out evenly, the three
AVX-512 panel shapes (32 x 12; 64 x 6 where the output channels per group
fill them; 48 x 8; 80 x 5 in float32), a last micro-panel of a few columns
on its own narrow kernel,
items that keep to one group where a group's weights are large,
reductions longer than one block, NCHW 1x1 reading its input planes in
place where the caches hold them (packed panels for a batch beyond), and
one image staged only as far as each thread's tiles reach.

Against the float64 reference in every ISA family and both dtypes, and bit
for bit against the same images convolved one at a time: where an image's
pixels fall in a tile or a micro-panel must not change their results."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, assert_same_bits, cap_isa, random_array


def _conv(x, w, b, layout, algorithm, **args):
    return gconv.conv2d(x, w, b, layout=layout, force_algorithm=algorithm, **args)


def _check(c, groups, k, spatial, kernel, layout, dtype, batch, algorithm, seed=0, stride=1,
           padding=0, activation=None):
    shape = (batch, c) + spatial if layout == "NCHW" else (batch,) + spatial + (c,)
    x = random_array(shape, dtype, seed)
    w = random_array((k, c // groups) + kernel, dtype, seed + 1)
    b = random_array((k,), dtype, seed + 2)
    args = dict(stride=stride, padding=padding, groups=groups, activation=activation)
    want = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            layout=layout, **args)
    got = _conv(x, w, b, layout, algorithm, **args)
    assert_close(got, want, dtype, f"{algorithm} {layout} {x.shape} {w.shape} {args}")
    return x, w, b, args, got


# (C, groups, K, H x W, kernel, stride, padding): output maps whose pixel
# counts leave 1 to 11 columns of a last micro-panel of 12 (AVX-512), 6
# (AVX2) or 4 (portable), so that tiles spanning images start mid-panel.
GEOMETRIES = [
    (64, 2, 64, (13, 13), (3, 3), 1, 1),   # 169 pixels: AlexNet conv4 and conv5's maps
    (32, 1, 48, (14, 14), (3, 3), 1, 1),   # 196 = 16 x 12 + 4
    (48, 3, 96, (5, 7), (1, 1), 1, 0),     # 35 pixels, grouped 1x1
    (40, 1, 32, (7, 7), (3, 3), 2, 1),     # 16 pixels at stride 2
    (32, 2, 64, (3, 5), (5, 5), 1, 2),     # 15 pixels, 5x5
    (64, 1, 32, (1, 1), (1, 1), 1, 0),     # one pixel per image
    (32, 1, 128, (13, 13), (3, 3), 1, 1),  # 64-row panels of 6 columns (AVX-512)
    (48, 3, 192, (5, 7), (1, 1), 1, 0),    # the same, grouped 1x1
    (80, 1, 80, (9, 7), (3, 3), 1, 1),     # 80-row panels of 5 columns (AVX-512 float32)
    (240, 3, 240, (5, 7), (1, 1), 1, 0),   # the same, grouped 1x1 (ShuffleNet's 80 per group)
]


def _geometry_id(geometry):
    c, groups, k, (h, w), (r, s), stride, padding = geometry
    return f"c{c}g{groups}k{k}_{h}x{w}_{r}x{s}_s{stride}_p{padding}"


def _algorithm(kernel, stride, padding):
    return "gemm_1x1" if kernel == (1, 1) and stride == 1 and padding == 0 else "im2col_gemm"


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_tiles_match_reference_across_images(isa, geometry, layout, dtype, restore_isa):
    cap_isa(isa)
    c, groups, k, spatial, kernel, stride, padding = geometry
    _check(c, groups, k, spatial, kernel, layout, dtype, 5, _algorithm(kernel, stride, padding),
           seed=c + spatial[1], stride=stride, padding=padding)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_gemm_batch_gives_each_image_the_bits_it_gets_alone(geometry, layout):
    c, groups, k, spatial, kernel, stride, padding = geometry
    algorithm = _algorithm(kernel, stride, padding)
    x, w, b, args, got = _check(c, groups, k, spatial, kernel, layout, "float32", 7, algorithm,
                                seed=3, stride=stride, padding=padding, activation="relu6")
    for n in range(x.shape[0]):
        alone = _conv(x[n:n + 1], w, b, layout, algorithm, **args)
        assert_same_bits(got[n:n + 1], alone, f"image {n} of 7, {layout} {x.shape}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7, 11, 13, 16, 17])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_last_micro_panel_of_few_columns(isa, width, layout, dtype, restore_isa):
    # One image, one row: the pixel count alone sets the last panel's columns.
    cap_isa(isa)
    _check(32, 1, 64, (3, width), (3, 3), layout, dtype, 1, "im2col_gemm", seed=width,
           padding=(0, 1), activation="relu")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_groups_with_large_weights_match_reference(layout, dtype):
    # 192 x 192 x 3 x 3 weights per group (1.3 MB in float32): items keep
    # to one group.
    _check(384, 2, 384, (4, 5), (3, 3), layout, dtype, 3, "im2col_gemm", seed=11, padding=1)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("c,kernel", [(300, (3, 3)), (2500, (1, 1))], ids=["taps", "channels"])
def test_gemm_reductions_longer_than_one_block(layout, dtype, c, kernel):
    # 2700 steps in blocks of whole taps; 2500 channels of one tap in parts.
    padding = 1 if kernel == (3, 3) else 0
    _check(c, 1, 40, (3, 4), kernel, layout, dtype, 2, _algorithm(kernel, 1, padding), seed=c,
           padding=padding, activation="relu6")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("c,groups,k", [(48, 3, 96), (96, 1, 32)], ids=["grouped", "dense"])
def test_gemm_1x1_nchw_in_place_gives_the_packed_bits(isa, dtype, c, groups, k, restore_isa):
    # One image at a time, its input in the caches, B's rows are read where
    # they lie; a batch of 6 (over 4 MB of input and output) packs them.
    # 55 x 55 pixels leave a last micro-panel of a few columns, packed in
    # both. Same kernel, same order: the same bits.
    cap_isa(isa)
    x, w, b, args, got = _check(c, groups, k, (55, 55), (1, 1), "NCHW", dtype, 6, "gemm_1x1",
                                seed=groups, activation="relu6")
    for n in (0, 5):
        alone = _conv(x[n:n + 1], w, b, "NCHW", "gemm_1x1", **args)
        assert_same_bits(got[n:n + 1], alone, f"image {n} of 6, {x.shape} {dtype}")


# (C, H x W, K, kernel, stride, dilation, padding): one image and one group,
# so each thread stages only the padded rows its tiles' windows cover. Channel
# counts leave a last chunk of transposed planes of 8 or fewer (40, 33), of
# 9 to 15 (45 with AVX-512) or none (64); maps whose rows split unevenly
# between tiles; windows past the padding rows (stride 2, dilation 2).
STAGED_ROWS = [
    (64, (30, 30), 64, (3, 3), 1, 1, 1),
    (40, (23, 17), 32, (3, 3), 1, 1, 1),
    (45, (19, 21), 64, (5, 5), 1, 1, 2),
    (33, (27, 9), 48, (3, 3), 2, 1, 1),
    (32, (25, 25), 32, (3, 3), 1, 2, 2),
    (48, (40, 6), 96, (3, 1), 1, 1, (0, 0)),
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", STAGED_ROWS, ids=lambda g: f"c{g[0]}_{g[1][0]}x{g[1][1]}_{g[3][0]}x{g[3][1]}_s{g[4]}_d{g[5]}")
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_gemm_staged_rows_of_one_image_match_reference(isa, geometry, threads, restore_isa,
                                                      restore_threads):
    cap_isa(isa)
    c, spatial, k, kernel, stride, dilation, padding = geometry
    gconv.set_num_threads(threads)
    x = random_array((1, c) + spatial, "float32", c)
    w = random_array((k, c) + kernel, "float32", c + 1)
    b = random_array((k,), "float32", c + 2)
    args = dict(stride=stride, dilation=dilation, padding=padding, activation="relu")
    want = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            **args)
    got = _conv(x, w, b, "NCHW", "im2col_gemm", **args)
    assert_close(got, want, "float32", f"{x.shape} {w.shape} {args} threads={threads}")
    gconv.set_num_threads(1)
    assert_same_bits(got, _conv(x, w, b, "NCHW", "im2col_gemm", **args),
                     f"{threads} threads against 1, {x.shape} {w.shape} {args}")
