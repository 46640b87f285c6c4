"""Hypothesis strategies and array helpers shared by the property-based tests.

Everything a strategy draws is plain data (a ``ConvCase`` and a few names),
so a failing example prints as a one-line descriptor that rebuilds the same
arrays from its seed: ``ConvCase(...).descriptor(view=..., algorithm=...)``.
"""

from dataclasses import replace

import numpy as np
from hypothesis import assume, strategies as st

import gconv
from conftest import ConvCase, accepts, fit_spatial, run_context

PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float64")
BATCHES = (0, 1, 2, 3, None)  # None: unbatched (3-D) input
VIEWS = ("contiguous", "strided", "reversed", "fortran", "misaligned")

# Small integers keep every float32 partial sum exact: |x| <= 3, |w| <= 2 and
# at most 17 * 7 * 7 terms give sums far below 2**24.
INT_X, INT_W, INT_B = 3, 2, 8

seeds = st.integers(0, 2**20)
small = st.integers(1, 3)
spatial_params = st.one_of(small, st.tuples(small, small))
paddings = st.one_of(
    st.integers(0, 3),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
              st.tuples(st.integers(0, 3), st.integers(0, 3))),
    st.sampled_from(("valid", "same")),
)
kernels = st.tuples(st.sampled_from((1, 2, 3, 4, 5, 7)), st.sampled_from((1, 2, 3, 4, 5, 7)))
epilogues = st.sampled_from(((False, None), (True, None), (True, "relu"), (False, "relu6"),
                             (True, "relu6")))


@st.composite
def channel_configs(draw):
    """(C, G, K): dense and grouped with C/G and K/G in 1..17, depthwise with a
    multiplier, and prime channel counts."""
    kind = draw(st.sampled_from(("grouped", "grouped", "depthwise", "prime_dense")))
    if kind == "depthwise":
        c = draw(st.sampled_from(PRIMES + (1, 4, 8, 16, 24)))
        return c, c, c * draw(st.integers(1, 3))
    if kind == "prime_dense":
        return draw(st.sampled_from(PRIMES)), 1, draw(st.sampled_from(PRIMES + (1, 4, 16)))
    g = draw(st.sampled_from((1, 2, 3, 4, 5, 7)))
    return g * draw(st.integers(1, 17)), g, g * draw(st.integers(1, 17))


def macs(case):
    oh, ow = case.out_hw()
    return max(case.n or 1, 1) * case.k * oh * ow * (case.c // case.g) * case.kernel[0] * case.kernel[1]


@st.composite
def conv_cases(draw, channels=channel_configs(), max_macs=2_000_000):
    """A valid conv2d problem: every padding form, stride, dilation, layout,
    dtype, batch 0..3 or unbatched, bias and activation."""
    c, g, k = draw(channels)
    bias, activation = draw(epilogues)
    case = ConvCase(c=c, g=g, k=k, h=draw(st.integers(1, 12)), w=draw(st.integers(1, 12)),
                    kernel=draw(kernels), n=draw(st.sampled_from(BATCHES)),
                    stride=draw(spatial_params), padding=draw(paddings),
                    dilation=draw(spatial_params), layout=draw(st.sampled_from(LAYOUTS)),
                    dtype=draw(st.sampled_from(DTYPES)), bias=bias, activation=activation,
                    seed=draw(seeds))
    if c == g and draw(st.integers(0, 4)) == 0:
        # The kernel covers the whole input: the global depthwise shape.
        case = replace(case, kernel=(case.h, case.w), padding=0, dilation=1)
    case = fit_spatial(case)
    assume(case.valid() and macs(case) <= max_macs)
    return case


def accepted_algorithms(case):
    return [a for a in gconv.ALGORITHMS if accepts(case, a)]


def integer_array(shape, dtype, seed, bound):
    """Reproducible integers in [-bound, bound] as ``dtype``: sums of their
    products are exact in float32, so every algorithm must agree bit for bit."""
    return np.random.default_rng(seed).integers(-bound, bound + 1, shape).astype(dtype)


def integer_arrays(case):
    """(x, weight, bias or None) like ``case.arrays()`` but small integers."""
    x = integer_array(case.x_shape(), case.dtype, case.seed, INT_X)
    w = integer_array(case.w_shape(), case.dtype, case.seed + 1, INT_W)
    b = integer_array((case.k,), case.dtype, case.seed + 2, INT_B) if case.bias else None
    return x, w, b


def as_view(array, kind):
    """``array``'s values in a layout the kernels cannot read directly."""
    if kind == "contiguous":
        return array
    if kind == "strided":
        base = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
        base[..., ::2] = array
        return base[..., ::2]
    if kind == "reversed":
        return array[..., ::-1].copy()[..., ::-1]
    if kind == "fortran":
        return np.asfortranarray(array)
    if kind == "misaligned":
        raw = np.zeros(array.nbytes + 1, np.uint8)
        view = np.ndarray(array.shape, array.dtype, buffer=raw, offset=1)
        view[...] = array
        return view
    raise ValueError(kind)


def assert_exact(got, ref, dtype, descriptor):
    """``got`` equals the float64 reference exactly (integer-valued data)."""
    where = f"{descriptor} {run_context()}"
    assert isinstance(got, np.ndarray), f"{where}: result is {type(got).__name__}"
    assert got.dtype == np.dtype(dtype), f"{where}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == ref.shape, f"{where}: shape {got.shape}, expected {ref.shape}"
    wrong = got.astype(np.float64) != ref
    if wrong.any():
        idx = tuple(np.argwhere(wrong)[0])
        raise AssertionError(f"{where}: exact match expected, {int(wrong.sum())} of {wrong.size} "
                             f"elements differ, first at {idx} (got {got[idx]!r}, ref {ref[idx]!r})")
