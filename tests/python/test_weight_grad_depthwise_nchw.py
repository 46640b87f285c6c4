"""The depthwise NCHW weight gradient (any multiplier) that reads x and dy in
place (src/cpu/wgrad/wgrad_dw_nchw_rows.inl, AVX-512 only), undilated: 3x3
at stride 1 or 2 on output rows of up to eight vectors (16 float32 or 8
float64 values each), 5x5 at stride 1 on rows of one. Against the reference
in every ISA family (the others take the bands: the same geometries check
them) and both dtypes, over planes of one to 256 columns, odd and many rows
(blocks of eight or four), asymmetric, absent and oversized padding (output
rows wider than the input's, whole rows of padding), multipliers 2 and 3,
images summed in order; the same bits at any thread count; and a
non-finite gradient meets the zero padding as the reference's sum does.
The last geometries are outside it: 129 columns at stride 1, 5x5 on two
vectors, 7x7, 5x5 at stride 2."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, assert_close, assert_same_bits, cap_isa, random_array


def _grads(c, spatial, kernel, stride, padding, dtype, batch=3, seed=0, multiplier=1):
    x = random_array((batch, c) + spatial, dtype, seed)
    args = dict(stride=stride, padding=padding, groups=c)
    w_shape = (c * multiplier, 1, kernel, kernel)
    y_shape = reference.conv2d(x.astype(np.float64), np.zeros(w_shape), **args).shape
    dy = random_array(y_shape, dtype, seed + 1)
    want = reference.conv2d_weight_grad(x.astype(np.float64), w_shape, dy.astype(np.float64),
                                        **args)
    got = gconv.conv2d_weight_grad(x, w_shape, dy, **args)
    return got, want, int(np.prod(y_shape[2:])) * batch


# (channels, H x W, kernel, stride, padding)
GEOMETRIES = [
    (20, (14, 14), 3, 1, 1),               # MobileNetV2's 14x14: blocks of seven rows
    (20, (7, 7), 3, 1, 1),                 # 7x7
    (20, (14, 14), 5, 1, 2),               # EfficientNet's 5x5
    (5, (7, 7), 5, 1, 2),
    (5, (16, 16), 3, 1, 1),                # one float32 vector wide
    (5, (9, 8), 3, 1, 1),                  # one float64 vector wide
    (5, (40, 3), 3, 1, 1),                 # five blocks of eight rows
    (5, (21, 5), 5, 1, 2),                 # six blocks of at most four
    (5, (6, 1), 3, 1, 1),                  # one column
    (5, (9, 11), 3, 1, ((1, 0), (2, 1))),  # asymmetric: output rows one wider
    (5, (10, 12), 3, 1, 0),                # no padding
    (5, (4, 5), 3, 1, 3),                  # padding wider than the window
    (5, (9, 17), 3, 1, 1),                 # 17 columns: two vectors a row
    (5, (4, 56), 3, 1, 1),                 # MobileNetV2's 56 wide
    (3, (3, 112), 3, 1, 1),                # and 112: seven vectors
    (3, (3, 128), 3, 1, 1),                # eight float32 vectors, the most
    (5, (9, 30), 3, 1, ((1, 0), (2, 1))),  # asymmetric, two vectors
    (5, (10, 40), 3, 1, 0),                # no padding, three vectors
    (5, (12, 13), 3, 2, 1),                # stride 2: even lanes of two masked loads
    (3, (9, 112), 3, 2, 1),                # MobileNetV2's 112x112 stride 2: four vectors
    (5, (17, 34), 3, 2, 1),                # stride 2: two vectors, blocks of eight and one
    (5, (8, 41), 3, 2, ((1, 0), (0, 2))),  # stride 2, asymmetric padding
    (3, (5, 256), 3, 2, 1),                # stride 2, the widest: eight vectors
    (3, (3, 129), 3, 1, 1),                # one column past the most: the bands
    (5, (6, 17), 5, 1, 2),                 # 5x5 wider than a vector: the bands
    (5, (10, 9), 7, 1, 3),                 # 7x7: the bands
    (5, (9, 20), 5, 2, 2),                 # 5x5 at stride 2: the bands
]


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", GEOMETRIES,
                         ids=lambda g: f"c{g[0]}_{g[1][0]}x{g[1][1]}_k{g[2]}_s{g[3]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nchw_weight_grad_matches_reference(isa, geometry, dtype, restore_isa):
    cap_isa(isa)
    got, want, terms = _grads(*geometry, dtype, seed=geometry[1][0] * 17 + geometry[1][1])
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * np.sqrt(terms))


@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("geometry", [((14, 14), 3, 2), ((7, 56), 3, 2), ((9, 14), 5, 3)],
                         ids=lambda g: f"{g[0][0]}x{g[0][1]}_k{g[1]}_m{g[2]}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_nchw_weight_grad_multipliers_match_reference(isa, geometry, dtype,
                                                                restore_isa):
    # Output channel k's dy plane with x plane k / m (dw_mult2's 56 wide).
    cap_isa(isa)
    spatial, kernel, m = geometry
    got, want, terms = _grads(5, spatial, kernel, 1, kernel // 2, dtype, seed=spatial[1],
                              multiplier=m)
    tol = 1e-5 if dtype == "float32" else 1e-12
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale * np.sqrt(terms))


@pytest.mark.parametrize("c", [1, 5, 160])
@pytest.mark.parametrize("width", [14, 56])
def test_depthwise_nchw_weight_grad_is_bitwise_the_same_for_any_thread_count(c, width):
    x = random_array((3, c, 14, width), np.float32, 4)
    dy = random_array((3, c, 14, width), np.float32, 5)
    results = []
    for n in (1, 2, 3, 7):
        with gconv.threads(n):
            results.append(gconv.conv2d_weight_grad(x, (c, 1, 3, 3), dy, padding=1, groups=c))
    for r in results[1:]:
        assert_same_bits(r, results[0], "depthwise NCHW weight grad across thread counts")


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_depthwise_nchw_infinite_grad_output_on_the_border_meets_the_zero_padding(
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
    got = gconv.conv2d_weight_grad(x, (c, 1, 3, 3), dy, padding=1, groups=c)
    assert np.isnan(want[3, 0, 0, 0]) and np.isposinf(want[3, 0, 2, 2])
    assert_close(got, want, np.float32, "weight grad with an infinite dy")


@pytest.mark.parametrize("isa", ALL_ISAS)
def test_depthwise_nchw_infinite_grad_output_stays_in_its_row_on_wide_planes(isa, restore_isa):
    # Rows of 40 outputs end in the middle of a vector: an infinite dy at a
    # row's first column must not meet the previous row's vector, where
    # 0 * inf would make NaN of every tap.
    cap_isa(isa)
    c = 4
    x = np.abs(random_array((2, c, 6, 40), np.float32, 8)) + 0.5
    dy = random_array((2, c, 6, 40), np.float32, 9)
    dy[1, 2, 3, 0] = np.inf
    want = reference.conv2d_weight_grad(x, (c, 1, 3, 3), dy, padding=1, groups=c)
    got = gconv.conv2d_weight_grad(x, (c, 1, 3, 3), dy, padding=1, groups=c)
    assert_close(got, want, np.float32, "weight grad with an infinite dy")
