"""The NCHW global depthwise kernel (global_dwconv_nchw in
src/cpu/global/global.inl), unpadded with multiplier 1: blocks of sixteen
planes read as one flat run of vectors, each plane's lanes masked into its
own accumulator (AVX-512, planes of more than 16 values, 7x7 with its plane
size as a constant; images in eights or fours sharing each weight load,
then a pair, then one alone), then blocks of eight planes with a transpose (AVX2 and
up, planes of at least 8), then one dot product per plane; padding and
multipliers above 1 take the single dot products.

Against the float64 reference in every ISA family and both dtypes, over
plane sizes on either side of each kernel's limits (16 values, where one
vector holds a whole plane; 17, where a plane spans three vectors), channel
counts that reach every path, items split between threads, bias and ReLU6;
and the bits of an image do not depend on the batch or the thread count."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, assert_same_bits, cap_isa, random_array

# (batch, channels, H, W): planes of H * W values
GEOMETRIES = [
    (3, 512, 7, 7),   # MobileFaceNet's GDC: 7x7 planes, sixteen at a time
    (2, 37, 7, 7),    # two blocks of sixteen, then five single planes
    (2, 56, 5, 5),    # three blocks of sixteen, one of eight
    (2, 40, 4, 4),    # 16 values: one vector per plane, the eight-plane kernel
    (2, 32, 1, 17),   # 17 values: planes span two and three vectors
    (1, 48, 7, 6),    # 42 values
    (2, 16, 8, 8),    # 64 values: whole vectors, all four aligned to a plane
    (1, 24, 14, 14),  # 196 values: long runs of full vectors
    (2, 20, 3, 3),    # 9 values: eight-plane kernel, then single planes
    (3, 13, 2, 3),    # 6 values: single dot products only
    (4, 37, 7, 7),    # four images sharing each weight load, then single planes
    (7, 33, 1, 17),   # four images, then a pair, then one
    (15, 20, 5, 5),   # eight images, four, a pair, one
]


def _geometry_id(g):
    n, c, h, w = g
    return f"n{n}_c{c}_{h}x{w}"


def _check(batch, channels, h, w, dtype, seed, activation="relu6"):
    x = random_array((batch, channels, h, w), dtype, seed)
    wt = random_array((channels, 1, h, w), dtype, seed + 1)
    b = random_array((channels,), dtype, seed + 2)
    args = dict(groups=channels, activation=activation)
    want = reference.conv2d(x.astype(np.float64), wt.astype(np.float64), b.astype(np.float64),
                            **args)
    got = gconv.conv2d(x, wt, b, **args)
    assert gconv.Conv2d(wt, b, **args).algorithm(x.shape) == "global_depthwise"
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_depthwise_nchw_matches_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    _check(*geometry, dtype, seed=geometry[1] + geometry[2] * geometry[3])


@pytest.mark.parametrize("channels", [16, 48, 80])
def test_global_depthwise_nchw_split_between_threads_matches_reference(channels,
                                                                       restore_threads):
    # One image on two threads: items are runs of channels, in blocks of 16.
    with gconv.threads(2):
        _check(1, channels, 7, 7, np.float32, seed=channels, activation=None)
        _check(1, channels, 1, 17, np.float32, seed=channels + 1, activation=None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_depthwise_nchw_image_bits_do_not_depend_on_batch_or_threads(
        dtype, restore_threads):
    x = random_array((5, 83, 7, 7), dtype, 3)
    w = random_array((83, 1, 7, 7), dtype, 4)
    with gconv.threads(2):
        batch = gconv.conv2d(x, w, groups=83)
    with gconv.threads(1):
        assert_same_bits(gconv.conv2d(x, w, groups=83), batch, "one thread vs two")
    for n in range(len(x)):
        alone = gconv.conv2d(x[n:n + 1], w, groups=83)
        assert_same_bits(alone, batch[n:n + 1], f"image {n} alone vs in the batch")
