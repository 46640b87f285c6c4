"""Algebraic identities between gconv's own ops (no reference involved).

Each identity holds exactly in real arithmetic. With small-integer data every
float32/float64 sum is exact too, so both sides must agree bit for bit; with
random float64 data (linearity) they agree within a float64 tolerance.
Cases are drawn by Hypothesis (bounded by the profile in
``_hypothesis_profiles.py``); each failure names the case's descriptor.
"""

import pytest

pytest.importorskip("hypothesis")

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
from hypothesis import given, note, strategies as st  # noqa: E402

import gconv  # noqa: E402
from conftest import ConvCase, as_pair, run_context  # noqa: E402
from _strategies import (BATCHES, DTYPES, LAYOUTS, PRIMES, accepted_algorithms,  # noqa: E402
                         assert_exact, conv_cases, integer_array, integer_arrays, seeds)

# Identities that compare two gconv calls on one problem: no epilogue unless
# the identity keeps it, batch >= 1 where slicing channels matters.
plain_cases = conv_cases().map(lambda c: replace(c, bias=False, activation=None))


def channel_axis(layout, ndim):
    return ndim - 1 if layout == "NHWC" else ndim - 3


def take_channels(a, layout, start, stop):
    index = [slice(None)] * a.ndim
    index[channel_axis(layout, a.ndim)] = slice(start, stop)
    return a[tuple(index)]


def assert_same(a, b, descriptor):
    """Two gconv results on integer data: identical values (and dtypes)."""
    assert_exact(a, b.astype(np.float64), b.dtype, descriptor)


@given(conv_cases())
def test_block_diagonal_weight_gives_the_grouped_convolution(case):
    descriptor = case.descriptor(identity="block_diagonal")
    note(descriptor)
    x, w, b = integer_arrays(case)
    grouped = gconv.conv2d(x, w, b, **case.kwargs())
    dense = gconv.conv2d(x, gconv.block_diagonal(w, case.g), b, **{**case.kwargs(), "groups": 1})
    assert_same(dense, grouped, descriptor)


@given(plain_cases)
def test_grouped_convolution_is_the_concatenation_of_per_group_dense_convolutions(case):
    descriptor = case.descriptor(identity="per_group_concat")
    note(descriptor)
    x, w, _ = integer_arrays(case)
    grouped = gconv.conv2d(x, w, **case.kwargs())
    cg, kg = case.c // case.g, case.k // case.g
    parts = [gconv.conv2d(np.ascontiguousarray(take_channels(x, case.layout, g * cg, (g + 1) * cg)),
                          w[g * kg:(g + 1) * kg], **{**case.kwargs(), "groups": 1})
             for g in range(case.g)]
    assert_same(np.concatenate(parts, axis=channel_axis(case.layout, x.ndim)), grouped, descriptor)


@st.composite
def depthwise_problems(draw):
    c = draw(st.sampled_from(PRIMES + (1, 4, 8, 16)))
    case = draw(conv_cases(channels=st.just((c, c, c * draw(st.integers(1, 3))))))
    return case, draw(st.sampled_from(accepted_algorithms(case)))


@given(depthwise_problems())
def test_depthwise_conv2d_is_conv2d_with_groups_equal_to_channels(problem):
    case, algorithm = problem
    descriptor = case.descriptor(identity="depthwise_is_conv_groups_C", algorithm=algorithm)
    note(descriptor)
    x, w, b = integer_arrays(case)
    depthwise = gconv.depthwise_conv2d(x, w, b, case.stride, case.padding, case.dilation,
                                       layout=case.layout, activation=case.activation)
    assert_same(depthwise, gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm), descriptor)
    assert depthwise.tobytes() == gconv.conv2d(x, w, b, **case.kwargs()).tobytes(), \
        f"{descriptor}: depthwise_conv2d and conv2d(groups=C) planned differently {run_context()}"


@st.composite
def pool_inputs(draw):
    """(x, layout, exact): integer data with H*W a power of two is exact."""
    exact = draw(st.booleans())
    if exact:
        h, w = draw(st.sampled_from(((1, 1), (2, 4), (4, 4), (8, 2), (8, 8), (1, 16))))
    else:
        h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    c, n = draw(st.sampled_from(PRIMES + (1, 8, 16, 32))), draw(st.sampled_from(BATCHES))
    layout, dtype, seed = draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(DTYPES)), draw(seeds)
    shape = (c, h, w) if layout == "NCHW" else (h, w, c)
    shape = shape if n is None else (n,) + shape
    x = integer_array(shape, dtype, seed, 50) if exact else \
        np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return x, layout, exact, f"shape={shape} layout={layout} dtype={dtype} seed={seed} exact={int(exact)}"


@given(pool_inputs())
def test_global_depthwise_with_uniform_weights_is_global_average_pooling(problem):
    x, layout, exact, text = problem
    descriptor = f"identity=gdc_uniform_is_gap {text}"
    note(descriptor)
    c = x.shape[channel_axis(layout, x.ndim)]
    h, w = (x.shape[-2:] if layout == "NCHW" else x.shape[-3:-1])
    uniform = np.full((c, 1, h, w), 1.0 / (h * w), x.dtype)
    gdc = gconv.global_depthwise_conv2d(x, uniform, layout=layout)
    gap = gconv.global_avg_pool2d(x, layout=layout)
    if exact:
        assert_same(gdc, gap, descriptor)
    else:
        tol = (1e-5 if x.dtype == np.float32 else 1e-12) * max(1.0, float(np.abs(x).max(initial=0)))
        assert gdc.shape == gap.shape and gdc.dtype == gap.dtype, descriptor
        assert np.abs(gdc.astype(np.float64) - gap).max(initial=0) <= tol, f"{descriptor} {run_context()}"


@given(st.sampled_from(PRIMES + (1, 4, 6, 8, 12, 16, 24, 36, 60)), st.data())
def test_channel_shuffle_by_c_over_g_undoes_shuffle_by_g(c, data):
    g = data.draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    layout = data.draw(st.sampled_from(LAYOUTS))
    n = data.draw(st.sampled_from(BATCHES))
    dtype, seed = data.draw(st.sampled_from(DTYPES)), data.draw(seeds)
    shape = (c, 3, 2) if layout == "NCHW" else (3, 2, c)
    shape = shape if n is None else (n,) + shape
    descriptor = f"identity=shuffle_inverse shape={shape} groups={g} layout={layout} dtype={dtype} seed={seed}"
    note(descriptor)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    y = gconv.channel_shuffle(x, g, layout=layout)
    back = gconv.channel_shuffle(y, c // g, layout=layout, out=np.empty_like(x))
    assert back.tobytes() == x.tobytes(), descriptor
    if 1 < g < c and x.size:
        assert y.tobytes() != x.tobytes() or np.unique(x).size < x.size, descriptor


@given(plain_cases, st.sampled_from((1, 3)))
def test_a_batch_is_the_concatenation_of_its_images(case, n):
    case = replace(case, n=n)
    descriptor = case.descriptor(identity="batch_concat")
    note(descriptor)
    x, w, b = integer_arrays(case)
    whole = gconv.conv2d(x, w, b, **case.kwargs())
    one_by_one = np.stack([gconv.conv2d(x[i], w, b, **case.kwargs()) for i in range(n)])
    assert_same(one_by_one, whole, descriptor)


@given(plain_cases.filter(lambda c: c.padding != "same"))
def test_strided_convolution_is_the_stride_one_result_subsampled(case):
    descriptor = case.descriptor(identity="stride_subsample")
    note(descriptor)
    x, w, _ = integer_arrays(case)
    sh, sw = as_pair(case.stride)
    strided = gconv.conv2d(x, w, **case.kwargs())
    dense = gconv.conv2d(x, w, **{**case.kwargs(), "stride": 1})
    if case.layout == "NCHW":
        expected = dense[..., ::sh, ::sw]
    else:
        expected = dense[..., ::sh, ::sw, :]
    assert_same(strided, np.ascontiguousarray(expected), descriptor)


@given(plain_cases.filter(lambda c: c.padding != "same"))
def test_dilated_convolution_is_the_zero_inserted_kernel_undilated(case):
    descriptor = case.descriptor(identity="dilation_zero_insert")
    note(descriptor)
    x, w, _ = integer_arrays(case)
    dh, dw = as_pair(case.dilation)
    r, s = case.kernel
    spread = np.zeros(w.shape[:2] + ((r - 1) * dh + 1, (s - 1) * dw + 1), w.dtype)
    spread[:, :, ::dh, ::dw] = w
    dilated = gconv.conv2d(x, w, **case.kwargs())
    undilated = gconv.conv2d(x, spread, **{**case.kwargs(), "dilation": 1})
    assert_same(undilated, dilated, descriptor)


def _float64(case):
    return replace(case, dtype="float64", bias=False, activation=None)


def _assert_linear(lhs, rhs, descriptor):
    scale = max(1.0, float(np.abs(rhs).max(initial=0)))
    diff = float(np.abs(lhs - rhs).max(initial=0))
    assert lhs.shape == rhs.shape and diff <= 1e-10 * scale, \
        f"{descriptor}: max|diff| {diff:.3g} > {1e-10 * scale:.3g} {run_context()}"


@given(plain_cases.map(_float64), st.floats(-4, 4), st.floats(-4, 4))
def test_convolution_is_linear_in_the_input(case, alpha, beta):
    descriptor = case.descriptor(identity="linear_in_x", alpha=alpha, beta=beta)
    note(descriptor)
    x1, w, _ = case.arrays()
    x2 = replace(case, seed=case.seed + 7).arrays()[0]
    lhs = gconv.conv2d(alpha * x1 + beta * x2, w, **case.kwargs())
    rhs = alpha * gconv.conv2d(x1, w, **case.kwargs()) + beta * gconv.conv2d(x2, w, **case.kwargs())
    _assert_linear(lhs, rhs, descriptor)


@given(plain_cases.map(_float64), st.floats(-4, 4), st.floats(-4, 4))
def test_convolution_is_linear_in_the_weight(case, alpha, beta):
    descriptor = case.descriptor(identity="linear_in_w", alpha=alpha, beta=beta)
    note(descriptor)
    x, w1, _ = case.arrays()
    w2 = replace(case, seed=case.seed + 7).arrays()[1]
    lhs = gconv.conv2d(x, alpha * w1 + beta * w2, **case.kwargs())
    rhs = alpha * gconv.conv2d(x, w1, **case.kwargs()) + beta * gconv.conv2d(x, w2, **case.kwargs())
    _assert_linear(lhs, rhs, descriptor)


def test_integer_identities_are_exact_also_for_the_planner_cliff_sizes():
    """ResNeXt/RegNet/AlexNet group widths (24, 48, 96 channels per group once
    failed elsewhere) on integer data: block_diagonal and per-group concat."""
    for c, g, k in ((96, 4, 96), (48, 2, 48), (24, 1, 24), (64, 32, 64), (96, 96, 96)):
        case = ConvCase(c=c, g=g, k=k, h=6, w=7, padding=1, n=2, seed=c + g)
        x, w, _ = integer_arrays(case)
        grouped = gconv.conv2d(x, w, **case.kwargs())
        dense = gconv.conv2d(x, gconv.block_diagonal(w, g), **{**case.kwargs(), "groups": 1})
        assert_same(dense, grouped, case.descriptor(identity="block_diagonal"))
        assert_exact(grouped, case.reference(x, w, None), case.dtype, case.descriptor())
