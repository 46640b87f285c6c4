"""The depthwise (multiplier 1) NHWC weight gradient that reads x and dy in
place (wgrad_dw_nhwc in src/cpu/wgrad/wgrad.inl): against the reference in
every ISA family and both dtypes, over strides, dilations, asymmetric
padding (rows and columns whose taps all read padding), every kernel shape
it takes (up to 4 rows, 7 columns, 12 taps), maps taller than one band of
rows and channel counts of many vectors; the same bits at any thread count;
and a non-finite gradient meets the zero padding as the reference's sum
does. Its condition: channel counts a multiple of the vector (16 covers
every family's float32); past 1 KB a pixel the driver requests each next
band's lines ahead. The last geometries are outside it and take the
banded route (5x5, 7x7, 12 channels). Batches of 4 or more over maps of
1024 output pixels or more split by images instead of channel vectors:
the same checks over those."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, assert_same_bits, cap_isa, random_array


def _nhwc(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _grads(c, spatial, kernel, stride, padding, dilation, dtype, batch=2, seed=0):
    x = random_array((batch, c) + spatial, dtype, seed)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=c)
    y_shape = reference.conv2d(x[:, :, :, :].astype(np.float64),
                               np.zeros((c, 1) + kernel), **args).shape
    dy = random_array(y_shape, dtype, seed + 1)
    want = reference.conv2d_weight_grad(x.astype(np.float64), (c, 1) + kernel,
                                        dy.astype(np.float64), **args)
    got = gconv.conv2d_weight_grad(_nhwc(x), (c, 1) + kernel, _nhwc(dy), layout="NHWC", **args)
    return got, want, int(np.prod(y_shape[2:])) * batch


# (channels, H x W, kernel, stride, padding, dilation)
GEOMETRIES = [
    (16, (7, 7), (3, 3), 1, 1, 1),                       # MobileNetV2's 7x7 layer, small
    (48, (19, 11), (3, 3), 1, 1, 1),                     # 19 rows: three bands, 3 vectors
    (32, (12, 13), (3, 3), 2, 1, 1),                     # stride 2, odd width
    (16, (9, 10), (3, 3), (1, 2), ((2, 0), (0, 3)), (2, 1)),  # asymmetric padding, dilation
    (16, (4, 5), (3, 3), 1, 4, 1),                       # whole rows and columns of padding
    (256, (5, 6), (3, 3), 1, 1, 1),                      # 1 KB a float32 pixel, 2 float64
    (320, (11, 5), (3, 3), 2, 1, 1),                     # 1.25 KB: next bands requested
    (16, (6, 9), (2, 5), 1, (1, 2), 1),                  # 2x5
    (16, (8, 7), (4, 3), (2, 1), (2, 1), 1),             # 4x3: twelve taps
    (16, (6, 12), (1, 7), 1, (0, 3), (1, 2)),            # 1x7, dilated columns
    (16, (5, 1), (1, 3), 1, (0, 1), 1),                  # one input column
    (16, (8, 8), (1, 1), 2, 0, 1),                       # 1x1
    (16, (6, 6), (5, 5), 1, 2, 1),                       # 5x5: the banded route
    (16, (10, 9), (7, 7), 1, 3, 1),                      # 7x7: the banded route
    (12, (6, 7), (3, 3), 1, 1, 1),                       # 12 channels: the banded route
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"c{g[0]}_{g[1][0]}x{g[1][1]}_k{g[2][0]}{g[2][1]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nhwc_weight_grad_matches_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    got, want, terms = _grads(*geometry, dtype, seed=geometry[0])
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * np.sqrt(terms))


# Batches of 4 or more over maps of 1024 output pixels or more: whole
# images per item, each into its own sums, added in image order.
# (channels, H x W, kernel, stride, padding, dilation, batch)
IMAGE_ITEMS = [
    (16, (32, 32), (3, 3), 1, 1, 1, 4),                        # 1024 pixels
    (48, (40, 30), (3, 3), 1, 1, 1, 5),                        # 3 vectors, odd batch
    (32, (66, 64), (3, 3), 2, 1, 1, 4),                        # stride 2: 33 x 32
    (16, (36, 70), (3, 3), (1, 2), ((2, 0), (0, 3)), (2, 1), 4),  # asymmetric, dilated
    (256, (32, 33), (3, 3), 1, 1, 1, 4),                       # 1 KB a float32 pixel
    (16, (34, 32), (2, 5), 1, (1, 2), 1, 6),                   # 2x5
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", IMAGE_ITEMS,
                         ids=lambda g: f"c{g[0]}_{g[1][0]}x{g[1][1]}_n{g[6]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nhwc_weight_grad_over_image_items_matches_reference(isa, geometry, dtype,
                                                                       restore_isa):
    cap_isa(isa)
    got, want, terms = _grads(*geometry[:6], dtype, batch=geometry[6], seed=geometry[0])
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * np.sqrt(terms))


def test_depthwise_nhwc_weight_grad_over_image_items_is_bitwise_the_same_for_any_thread_count():
    x = random_array((6, 32, 34, 48), np.float32, 8)
    dy = random_array((6, 32, 34, 48), np.float32, 9)
    results = []
    for n in (1, 2, 3, 7):
        with gconv.threads(n):
            results.append(gconv.conv2d_weight_grad(x, (48, 1, 3, 3), dy, padding=1, groups=48,
                                                    layout="NHWC"))
    for r in results[1:]:
        assert_same_bits(r, results[0], "depthwise NHWC weight grad over images, thread counts")


@pytest.mark.parametrize("c", [16, 160])
def test_depthwise_nhwc_weight_grad_is_bitwise_the_same_for_any_thread_count(c):
    x = random_array((3, 9, 10, c), np.float32, 4)
    dy = random_array((3, 9, 10, c), np.float32, 5)
    results = []
    for n in (1, 2, 3, 7):
        with gconv.threads(n):
            results.append(gconv.conv2d_weight_grad(x, (c, 1, 3, 3), dy, padding=1, groups=c,
                                                    layout="NHWC"))
    for r in results[1:]:
        assert_same_bits(r, results[0], "depthwise NHWC weight grad across thread counts")


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_infinite_grad_output_on_the_border_meets_the_zero_padding_as_the_reference(
        isa, restore_isa):
    # dy(0, 0) = inf: the taps that read x there get inf (sign of x), the
    # taps that read the padding get 0 * inf = NaN, in the reference's sum.
    cap_isa(isa)
    c = 16
    x = np.abs(random_array((1, c, 5, 6), np.float32, 6)) + 0.5
    dy = random_array((1, c, 5, 6), np.float32, 7)
    dy[0, 3, 0, 0] = np.inf
    dy[0, 5, 4, 5] = -np.inf
    want = reference.conv2d_weight_grad(x, (c, 1, 3, 3), dy, padding=1, groups=c)
    got = gconv.conv2d_weight_grad(_nhwc(x), (c, 1, 3, 3), _nhwc(dy), padding=1, groups=c,
                                   layout="NHWC")
    assert np.isnan(want[3, 0, 0, 0]) and np.isposinf(want[3, 0, 2, 2])
    assert_close(got, want, np.float32, "weight grad with an infinite dy")
