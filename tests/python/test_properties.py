"""Property-based tests: every public op on random problems against ``gconv.reference``.

Hypothesis draws shapes, groups (prime channel counts, C/G = 1..17,
depthwise with a multiplier), kernels, strides, dilations, every padding
form, layouts, dtypes, batches 0..3 and unbatched inputs, non-contiguous or
misaligned views, forced algorithms, ISA families and thread counts. Cases
with small-integer data must match the reference exactly (benchdnn's
integer mode); the others within DESIGN.md's tolerance.

Every failure names a one-line descriptor that rebuilds the same arrays
(``ConvCase(...).descriptor(...)``); Hypothesis also prints the falsifying
arguments. The number of cases is set by the profile in
``_hypothesis_profiles.py`` (``GCONV_HYPOTHESIS_PROFILE=long`` for more).
"""

import pytest

pytest.importorskip("hypothesis")

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
from hypothesis import given, note, strategies as st  # noqa: E402

import gconv  # noqa: E402
from gconv import reference  # noqa: E402
from conftest import ConvCase, assert_close, run_context  # noqa: E402
from _strategies import (BATCHES, DTYPES, LAYOUTS, PRIMES, VIEWS, accepted_algorithms,  # noqa: E402
                         as_view, assert_exact, conv_cases, integer_array, integer_arrays,
                         kernels, seeds)

ISAS = tuple(gconv.build_info()["isa_supported"])
FORMS = ("function", "out", "plan")


def _run_under(isa, threads, call):
    """``call()`` with the ISA capped at ``isa`` and ``threads`` threads, both restored."""
    previous = gconv._set_max_isa(isa)
    try:
        with gconv.threads(threads):
            return call()
    finally:
        gconv._set_max_isa(previous)


def _conv2d(case, x, w, b, form, algorithm):
    kwargs = case.kwargs()
    if form == "plan":
        plan = gconv.Conv2d(w, b, **kwargs, force_algorithm=algorithm)
        return plan(x)
    if form == "out":
        out = np.full(case.y_shape(), np.nan, case.dtype)
        result = gconv.conv2d(x, w, b, **kwargs, out=out, force_algorithm=algorithm)
        assert result is out, case.descriptor(form=form)
        return out
    return gconv.conv2d(x, w, b, **kwargs, force_algorithm=algorithm)


@st.composite
def conv_runs(draw):
    """A conv2d case plus how it is called: algorithm, form, view, ISA, threads."""
    case = draw(conv_cases())
    return (case, draw(st.sampled_from([None] + accepted_algorithms(case))),
            draw(st.sampled_from(FORMS)), draw(st.sampled_from(VIEWS)),
            draw(st.sampled_from(ISAS)), draw(st.integers(1, 3)))


def _check_conv2d(run, integer):
    case, algorithm, form, view, isa, threads = run
    descriptor = case.descriptor(algorithm=algorithm, form=form, view=view, isa=isa,
                                 threads=threads, integer=int(integer))
    note(descriptor)
    x, w, b = integer_arrays(case) if integer else case.arrays()
    ref = case.reference(x, w, b)
    got = _run_under(isa, threads, lambda: _conv2d(case, as_view(x, view), as_view(w, view), b,
                                                   form, algorithm))
    (assert_exact if integer else assert_close)(got, ref, case.dtype, descriptor)


@given(conv_runs())
def test_conv2d_matches_reference_on_random_problems(run):
    _check_conv2d(run, integer=False)


@given(conv_runs())
def test_conv2d_on_integer_data_matches_reference_exactly(run):
    _check_conv2d(run, integer=True)


@st.composite
def depthwise_cases(draw):
    c = draw(st.sampled_from(PRIMES + (1, 4, 8, 16)))
    channels = st.just((c, c, c * draw(st.integers(1, 4))))
    return draw(conv_cases(channels=channels))


@given(depthwise_cases(), st.sampled_from(VIEWS), st.booleans(), st.sampled_from(ISAS))
def test_depthwise_conv2d_matches_reference(case, view, integer, isa):
    descriptor = case.descriptor(op="depthwise_conv2d", view=view, integer=int(integer), isa=isa)
    note(descriptor)
    x, w, b = integer_arrays(case) if integer else case.arrays()
    ref = reference.depthwise_conv2d(x, w, b, case.stride, case.padding, case.dilation,
                                     layout=case.layout, activation=case.activation)
    got = _run_under(isa, 2, lambda: gconv.depthwise_conv2d(
        as_view(x, view), w, b, case.stride, case.padding, case.dilation,
        layout=case.layout, activation=case.activation))
    (assert_exact if integer else assert_close)(got, ref, case.dtype, descriptor)


@st.composite
def global_cases(draw):
    """A GDC problem: the kernel covers the whole input, no padding."""
    c = draw(st.sampled_from(PRIMES + (1, 4, 8, 16, 32, 33)))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    bias = draw(st.booleans())
    return ConvCase(c=c, g=c, k=c * draw(st.integers(1, 3)), h=h, w=w, kernel=(h, w),
                    n=draw(st.sampled_from(BATCHES)), layout=draw(st.sampled_from(LAYOUTS)),
                    dtype=draw(st.sampled_from(DTYPES)), bias=bias, seed=draw(seeds))


@given(global_cases(), st.sampled_from(VIEWS), st.booleans(), st.sampled_from(ISAS))
def test_global_depthwise_conv2d_matches_reference(case, view, integer, isa):
    descriptor = case.descriptor(op="global_depthwise_conv2d", view=view, integer=int(integer), isa=isa)
    note(descriptor)
    x, w, b = integer_arrays(case) if integer else case.arrays()
    ref = reference.global_depthwise_conv2d(x, w, b, layout=case.layout)
    got = _run_under(isa, 2, lambda: gconv.global_depthwise_conv2d(
        as_view(x, view), as_view(w, view), b, layout=case.layout))
    (assert_exact if integer else assert_close)(got, ref, case.dtype, descriptor)


@st.composite
def pool_problems(draw):
    """(x shape, layout, dtype, seed, integer): integer data only with H*W a
    power of two, where the mean of integers is exact in float32 too."""
    integer = draw(st.booleans())
    if integer:
        h, w = draw(st.sampled_from(((1, 1), (2, 2), (4, 4), (2, 8), (8, 8), (16, 1), (4, 16))))
    else:
        h, w = draw(st.integers(1, 17)), draw(st.integers(1, 17))
    c = draw(st.sampled_from(PRIMES + (1, 4, 8, 16, 33)))
    n = draw(st.sampled_from(BATCHES))
    layout = draw(st.sampled_from(LAYOUTS))
    spatial = (c, h, w) if layout == "NCHW" else (h, w, c)
    shape = spatial if n is None else (n,) + spatial
    return shape, layout, draw(st.sampled_from(DTYPES)), draw(seeds), integer


@given(pool_problems(), st.sampled_from(VIEWS), st.sampled_from(ISAS), st.booleans())
def test_global_avg_pool2d_matches_reference(problem, view, isa, with_out):
    shape, layout, dtype, seed, integer = problem
    descriptor = (f"global_avg_pool2d shape={shape} layout={layout} dtype={dtype} seed={seed} "
                  f"integer={int(integer)} view={view} isa={isa} out={int(with_out)}")
    note(descriptor)
    x = integer_array(shape, dtype, seed, 100) if integer else \
        np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    ref = reference.global_avg_pool2d(x, layout=layout)
    out = np.full(ref.shape, np.nan, dtype) if with_out else None
    got = _run_under(isa, 2, lambda: gconv.global_avg_pool2d(as_view(x, view), layout=layout, out=out))
    assert out is None or got is out, descriptor
    (assert_exact if integer else assert_close)(got, ref, dtype, descriptor)


@st.composite
def shuffle_problems(draw):
    c = draw(st.sampled_from(PRIMES + (1, 4, 6, 8, 12, 16, 24, 30, 36)))
    groups = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    n = draw(st.sampled_from(BATCHES))
    layout = draw(st.sampled_from(LAYOUTS))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    spatial = (c, h, w) if layout == "NCHW" else (h, w, c)
    return (spatial if n is None else (n,) + spatial), groups, layout, \
        draw(st.sampled_from(DTYPES)), draw(seeds)


@given(shuffle_problems(), st.sampled_from(VIEWS), st.booleans())
def test_channel_shuffle_matches_reference_exactly(problem, view, with_out):
    shape, groups, layout, dtype, seed = problem
    descriptor = (f"channel_shuffle shape={shape} groups={groups} layout={layout} dtype={dtype} "
                  f"seed={seed} view={view} out={int(with_out)}")
    note(descriptor)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    out = np.full(shape, np.nan, dtype) if with_out else None
    got = gconv.channel_shuffle(as_view(x, view), groups, layout=layout, out=out)
    assert out is None or got is out, descriptor
    assert_exact(got, reference.channel_shuffle(x, groups, layout=layout), dtype, descriptor)


@given(st.integers(1, 7), st.integers(1, 6), st.integers(1, 17), kernels,
       st.sampled_from(DTYPES), seeds, st.sampled_from(VIEWS))
def test_block_diagonal_matches_reference_exactly(groups, kg, cg, kernel, dtype, seed, view):
    descriptor = f"block_diagonal k={groups * kg} cg={cg} kernel={kernel} groups={groups} " \
                 f"dtype={dtype} seed={seed} view={view}"
    note(descriptor)
    w = np.random.default_rng(seed).standard_normal((groups * kg, cg) + kernel).astype(dtype)
    got = gconv.block_diagonal(as_view(w, view), groups)
    assert_exact(got, reference.block_diagonal(w, groups), dtype, descriptor)


@given(conv_cases(max_macs=10**12), st.sampled_from((np.float32, np.float64)))
def test_conv2d_cost_follows_its_formula(case, dtype):
    descriptor = case.descriptor(op="conv2d_cost", cost_dtype=np.dtype(dtype).name)
    note(descriptor)
    n = 1 if case.n is None else case.n
    batched = replace(case, n=n)
    cost = gconv.conv2d_cost(batched.x_shape(), case.w_shape(), case.stride, case.padding,
                             case.dilation, case.g, layout=case.layout, bias=case.bias, dtype=dtype)
    (r, s), (oh, ow) = case.kernel, case.out_hw()
    params = case.k * (case.c // case.g) * r * s + (case.k if case.bias else 0)
    macs = n * case.k * oh * ow * (case.c // case.g) * r * s
    elements = n * case.c * case.h * case.w + params + n * case.k * oh * ow
    expected = (params, macs, 2 * macs, batched.y_shape(), elements * np.dtype(dtype).itemsize)
    assert tuple(cost) == expected, f"{descriptor}: got {tuple(cost)}, expected {expected}"


@st.composite
def plan_runs(draw):
    """A plan and up to four input shapes it is called with (new batch and
    spatial sizes; 'same' padding re-resolved per shape)."""
    case = draw(conv_cases())
    algorithm = draw(st.sampled_from([None] + [a for a in accepted_algorithms(case)
                                               if a != "global_depthwise"]))
    shapes = []
    for i in range(draw(st.integers(1, 4))):
        shapes.append(replace(case, n=draw(st.sampled_from(BATCHES)), h=case.h + draw(st.integers(0, 3)),
                              w=case.w + draw(st.integers(0, 3)), seed=case.seed + 10 * (i + 1)))
    return case, algorithm, shapes, draw(st.sampled_from(ISAS))


@given(plan_runs())
def test_conv2d_plan_reused_on_new_shapes_matches_reference(run):
    case, algorithm, others, isa = run
    x, w, b = case.arrays()
    previous = gconv._set_max_isa(isa)
    try:
        plan = gconv.Conv2d(w, b, **case.kwargs(), force_algorithm=algorithm)
    finally:
        gconv._set_max_isa(previous)
    w_ref, b_ref = w.copy(), None if b is None else b.copy()
    w[...] = np.nan  # the plan holds its own copy
    for other in others:
        descriptor = other.descriptor(op="Conv2d", algorithm=algorithm, isa=isa)
        note(descriptor)
        if algorithm is not None and algorithm not in accepted_algorithms(other):
            with pytest.raises(ValueError):
                plan(other.arrays()[0])
            continue
        xo = other.arrays()[0]
        assert_close(plan(xo), other.reference(xo, w_ref, b_ref), case.dtype, descriptor)
        chosen = plan.algorithm(xo.shape)
        assert chosen == (algorithm or chosen) and chosen in accepted_algorithms(other), \
            f"{descriptor}: plan.algorithm says {chosen} {run_context()}"

