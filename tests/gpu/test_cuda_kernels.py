"""Every CUDA kernel against gconv.reference and the CPU gconv results.

The main grid is the CPU suite's pairwise grid (G=1, narrow and wide
groups, depthwise with multiplier 1..3, kernels 1..7, strides, dilations,
every padding form, both layouts and dtypes, batch 0/1/3/unbatched,
bias/activation); each case runs with the automatic choice and again with
every CUDA algorithm that accepts it. Dedicated grids cover depthwise
(kernels 3/5/7, strides 1/2, dilation 1/2, multiplier 1..3), GDC, global
average pooling, tile edges of the implicit GEMM and real-network layers.
"""

import itertools

import numpy as np
import pytest

import gconv
from gconv import _bench_suite, reference
from conftest import (GRID, ConvCase, accepted_algorithms, check_against_cpu, random_array,
                      require_gpu, run_case, to_device)

cp = require_gpu()
from gconv import _cuda_api  # noqa: E402  (exists only in a CUDA build)


@pytest.mark.parametrize("case", GRID, ids=lambda case: case.id())
def test_conv2d_grid_matches_cpu_and_reference(case):
    run_case(case)


@pytest.mark.parametrize("case", GRID, ids=lambda case: case.id())
def test_every_accepting_algorithm_matches_on_the_grid(case):
    names = accepted_algorithms(case)
    assert {"implicit_gemm", "direct"} <= set(names)
    for name in names:
        run_case(case, force=name)


def test_automatic_choice_follows_the_documented_order():
    choose = gconv.cuda.algorithm
    assert choose((1, 512, 7, 7), (512, 1, 7, 7), groups=512) == "global_depthwise"
    assert choose((1, 32, 9, 9), (64, 1, 3, 3), padding=1, groups=32) == "depthwise"
    assert choose((1, 128, 28, 28), (128, 4, 3, 3), padding=1, groups=32) == "grouped_narrow"
    assert choose((1, 160, 14, 14), (160, 16, 3, 3), padding=1, groups=10) == "grouped_narrow"
    assert choose((1, 64, 28, 28), (64, 64, 3, 3), padding=1) == "implicit_gemm"
    assert choose((1, 240, 28, 28), (240, 80, 1, 1), groups=3) == "implicit_gemm"
    # A narrow group whose weights overflow shared memory goes to the GEMM.
    assert choose((1, 15, 40, 40), (64, 15, 31, 31), dtype=np.float64) == "implicit_gemm"


DEPTHWISE_CASES = [
    ConvCase(c=c, g=c, k=c * m, h=h, w=w, kernel=(k, k), n=n, stride=s, padding=(k - 1) // 2 * d,
             dilation=d, layout=layout, dtype=dtype, bias=m != 2, activation="relu6" if m == 3 else None,
             seed=7)
    for (m, k, s, d, layout, dtype), (c, h, w, n) in zip(
        itertools.product((1, 2, 3), (3, 5, 7), (1, 2), (1, 2), ("NCHW", "NHWC"), ("float32", "float64")),
        itertools.cycle(((5, 7, 9, 2), (33, 14, 14, 1), (12, 23, 6, 3), (40, 7, 7, 2))))
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda case: case.id())
def test_depthwise_kernels_match(case):
    x, w, b = case.arrays()
    ref = case.reference(x, w, b)
    cpu_result = gconv.depthwise_conv2d(x, w, b, stride=case.stride, padding=case.padding,
                                        dilation=case.dilation, layout=case.layout,
                                        activation=case.activation)
    dx, dw, db = to_device(x, w, b)
    got = gconv.depthwise_conv2d(dx, dw, db, stride=case.stride, padding=case.padding,
                                 dilation=case.dilation, layout=case.layout,
                                 activation=case.activation)
    check_against_cpu(got, ref, cpu_result, case.dtype, case.descriptor(op="depthwise_conv2d"))


def test_depthwise_with_huge_dilation_falls_back_to_direct_and_stays_right():
    run_case(ConvCase(c=4, g=4, k=8, h=70, w=300, kernel=(5, 9), dilation=(9, 30), padding=2,
                      layout="NCHW", dtype="float64"))
    run_case(ConvCase(c=4, g=4, k=4, h=20, w=20, kernel=(15, 15), padding=7, layout="NHWC",
                      dtype="float64"))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,m", [((3, 16, 7, 7), 1), ((2, 8, 5, 9), 2), ((1, 3, 64, 64), 1),
                                     ((2, 4, 1, 1), 3), ((0, 4, 3, 3), 1)])
def test_global_depthwise_matches(shape, m, dtype, layout):
    n, c, h, w = shape
    x = random_array(shape if layout == "NCHW" else (n, h, w, c), dtype, 3)
    wt = random_array((c * m, 1, h, w), dtype, 4)
    b = random_array((c * m,), dtype, 5)
    ref = reference.global_depthwise_conv2d(x, wt, b, layout=layout)
    cpu_result = gconv.global_depthwise_conv2d(x, wt, b, layout=layout)
    got = gconv.global_depthwise_conv2d(*to_device(x, wt, b), layout=layout)
    check_against_cpu(got, ref, cpu_result, dtype, f"gdc {shape} m={m} {layout} {dtype}")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_global_depthwise_through_padding_uses_the_padded_weights(layout):
    case = ConvCase(c=6, g=6, k=12, h=4, w=5, kernel=(7, 6), padding=((2, 1), (0, 1)),
                    layout=layout, bias=True, activation="relu")
    assert "global_depthwise" in accepted_algorithms(case)
    run_case(case)
    run_case(case, force="global_depthwise")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (1, 512, 7, 7), (3, 3, 70, 70), (0, 2, 3, 3),
                                   (1, 1, 1, 1), (4, 100, 3, 2)])
def test_global_avg_pool_matches(shape, dtype, layout):
    n, c, h, w = shape
    x = random_array(shape if layout == "NCHW" else (n, h, w, c), dtype, 9)
    ref = reference.global_avg_pool2d(x, layout=layout)
    cpu_result = gconv.global_avg_pool2d(x, layout=layout)
    got = gconv.global_avg_pool2d(cp.asarray(x), layout=layout)
    check_against_cpu(got, ref, cpu_result, dtype, f"gap {shape} {layout} {dtype}")


def test_global_avg_pool_unbatched():
    x = random_array((5, 6, 7), np.float32, 1)
    got = gconv.global_avg_pool2d(cp.asarray(x))
    assert got.shape == (5, 1, 1)
    np.testing.assert_allclose(cp.asnumpy(got), reference.global_avg_pool2d(x), rtol=1e-5)


# Tile edges: Kg and N*OH*OW around the 64 and 128 tiles, reductions not a
# multiple of 16, many groups (grid z), both layouts and dtypes.
TILE_CASES = [
    ConvCase(c=c, g=g, k=k, h=h, w=w, kernel=kern, n=n, padding=pad, stride=s, layout=layout,
             dtype=dtype, bias=True, activation="relu", seed=11)
    for (c, g, k, h, w, kern, n, pad, s), layout, dtype in itertools.product(
        [(256, 1, 256, 28, 28, (3, 3), 2, 1, 1), (96, 2, 256, 27, 27, (5, 5), 1, 2, 1),
         (17, 1, 65, 9, 15, (3, 3), 3, 1, 1), (32, 1, 200, 16, 16, (1, 1), 3, 0, 1),
         (160, 10, 160, 14, 14, (3, 3), 2, 1, 1), (240, 3, 240, 28, 28, (1, 1), 1, 0, 1),
         (64, 1, 129, 13, 11, (2, 3), 2, 1, 2)],
        ("NCHW", "NHWC"), ("float32", "float64"))
]


@pytest.mark.parametrize("case", TILE_CASES, ids=lambda case: case.id())
def test_implicit_gemm_tile_edges(case):
    run_case(case)
    run_case(case, force="implicit_gemm")


def _layer_case(layer, layout, dtype):
    small = _bench_suite.scaled(layer, 14, 256)
    return ConvCase(c=small.in_channels, g=small.groups, k=small.out_channels, h=small.size,
                    w=small.size, kernel=(small.kernel, small.kernel), n=2, stride=small.stride,
                    padding=small.padding, layout=layout, dtype=dtype, bias=True, seed=21)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("layer", _bench_suite.LAYERS, ids=lambda layer: layer.name)
def test_real_network_layers_match(layer, layout):
    for dtype in ("float32", "float64"):
        run_case(_layer_case(layer, layout, dtype))


def test_full_size_resnext_layer_matches_cpu():
    layer = _bench_suite.find("resnext50_s3")
    case = ConvCase(c=layer.in_channels, g=layer.groups, k=layer.out_channels, h=layer.size,
                    w=layer.size, n=2, padding=1, layout="NHWC", seed=4)
    run_case(case)


def test_integer_valued_data_is_exact_in_float32():
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (2, 16, 9, 11)).astype(np.float32)
    w = rng.integers(-3, 4, (32, 4, 3, 3)).astype(np.float32)
    ref = reference.conv2d(x, w, groups=4, padding=1, stride=(1, 2)).astype(np.float32)
    for force in ("implicit_gemm", "grouped_narrow", "direct"):
        y = _cuda_api.conv2d(cp.asarray(x), cp.asarray(w), groups=4, padding=1, stride=(1, 2),
                             _force=force)
        np.testing.assert_array_equal(cp.asnumpy(y), ref, err_msg=force)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_nan_and_inf_propagate_like_the_reference(layout):
    for c, g, k in ((4, 1, 8), (32, 2, 32), (6, 6, 12), (8, 4, 8)):
        case = ConvCase(c=c, g=g, k=k, h=9, w=10, n=2, padding=1, layout=layout, seed=2)
        x, w, _ = case.arrays()
        x = x.copy()
        flat = x.reshape(-1)
        flat[5] = np.nan
        flat[len(flat) // 2] = np.inf
        ref = case.reference(x, w, None)
        cpu_result = gconv.conv2d(x, w, **case.kwargs())
        for name in accepted_algorithms(case):
            got = _cuda_api.conv2d(*to_device(x, w), **case.kwargs(), _force=name)
            check_against_cpu(got, ref, cpu_result, case.dtype, case.descriptor(algorithm=name))


def test_results_are_deterministic():
    case = ConvCase(c=64, g=4, k=64, h=20, w=20, n=3, padding=1, layout="NHWC", seed=8)
    first = cp.asnumpy(run_case(case))
    second = cp.asnumpy(run_case(case))
    assert first.tobytes() == second.tobytes()
