"""The NHWC global depthwise kernel (global_dwconv_nhwc in
src/cpu/global/global.inl): runs of up to four images (two below AVX-512)
share each weight vector, channels in blocks of vectors, then single
vectors, then a scalar tail; a multiplier above 1 takes the scalar path.
Every tap is visited in order, the padding's taps multiplying zeros as the
reference does (a NaN weight over the padding gives NaN).

Against the float64 reference in every ISA family and both dtypes, over
batches that leave runs of every length, channel counts that reach every
path, padding, multipliers, bias and ReLU6; and the bits of an image do not
depend on the run it was computed in or on the thread count."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, assert_same_bits, cap_isa, random_array

# (batch, channels, H, W, padding, multiplier)
GEOMETRIES = [
    (16, 512, 7, 7, 0, 1),   # MobileFaceNet's GDC: four runs of four images
    (9, 83, 4, 6, 0, 1),     # runs of four and one image; vector blocks, single vectors, tail
    (5, 200, 3, 3, 1, 1),    # padded: the padding's taps multiply zeros
    (3, 17, 5, 2, (0, 1), 1),  # asymmetric padding (rows only); one vector and a tail
    (6, 40, 3, 3, 1, 2),     # multiplier 2: the scalar path, padded
    (1, 8, 1, 1, 0, 1),      # one pixel, fewer channels than a vector
]


def _nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _data(batch, channels, h, w, padding, multiplier, dtype, seed):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    x = random_array((batch, channels, h, w), dtype, seed)
    wt = random_array((channels * multiplier, 1, h + 2 * ph, w + 2 * pw), dtype, seed + 1)
    b = random_array((channels * multiplier,), dtype, seed + 2)
    return _nhwc(x), wt, b, (ph, pw)


def _geometry_id(g):
    n, c, h, w, p, m = g
    return f"n{n}_c{c}_{h}x{w}_p{p if isinstance(p, int) else '-'.join(map(str, p))}_m{m}"


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_id)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_depthwise_nhwc_matches_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    x, w, b, padding = _data(*geometry, dtype, seed=geometry[1])
    args = dict(padding=padding, groups=geometry[1], layout="NHWC", activation="relu6")
    want = reference.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            **args)
    got = gconv.conv2d(x, w, b, **args)
    assert gconv.Conv2d(w, b, **args).algorithm(x.shape) == "global_depthwise"
    assert_close(got, want, dtype, f"{x.shape} {args}")


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_global_depthwise_nhwc_nan_weight_over_padding_gives_nan(isa, multiplier, restore_isa):
    cap_isa(isa)
    x, w, _, padding = _data(5, 70, 3, 3, 1, multiplier, np.float32, 7)
    w[3, 0, 0, 0] = np.nan   # a corner tap: over the padding for every image
    w[66, 0, 4, 2] = np.inf  # the bottom row's tap: padding too
    args = dict(padding=padding, groups=70, layout="NHWC")
    want = reference.conv2d(x.astype(np.float64), w.astype(np.float64), **args)
    got = gconv.conv2d(x, w, **args)
    assert np.isnan(want[..., [3, 66]]).all()
    assert_close(got, want, np.float32, f"{x.shape} {args}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_global_depthwise_nhwc_image_bits_do_not_depend_on_its_run(dtype, restore_threads):
    # Each image sums its taps in the same order whether it is computed in a
    # run of four, as a remainder, alone, or on any number of threads.
    x, w, b, padding = _data(11, 83, 5, 5, 1, 1, dtype, 3)
    args = dict(padding=padding, groups=83, layout="NHWC")
    with gconv.threads(2):
        batch = gconv.conv2d(x, w, b, **args)
    with gconv.threads(1):
        assert_same_bits(gconv.conv2d(x, w, b, **args), batch, "one thread vs two")
    for n in range(len(x)):
        alone = gconv.conv2d(x[n:n + 1], w, b, **args)
        assert_same_bits(alone, batch[n:n + 1], f"image {n} alone vs in the batch")
