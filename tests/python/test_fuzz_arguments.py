"""Bounded fuzzing of the Python argument layer (CI's share of tests/fuzz).

Hypothesis replaces one to three arguments of a valid call of each public
function with raw values: ints of every size and sign, floats with NaN and
Inf, bools, strings, None, nested tuples and lists, NumPy scalars, arrays of
odd dtypes, shapes and strides, and plain objects. Only ``TypeError``,
``ValueError`` and ``MemoryError`` may escape, and a failing call must leave
``out=`` untouched (tests/fuzz/fuzz_arguments.py checks both). The address
space is capped meanwhile so a huge request fails instead of swapping.
tests/fuzz/README.md says how to fuzz for longer (atheris).
"""

import os
import sys

import pytest

pytest.importorskip("hypothesis")

import numpy as np  # noqa: E402
from hypothesis import given, note, settings, strategies as st  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz"))

import fuzz_arguments as fuzz  # noqa: E402

ints = st.one_of(st.sampled_from(fuzz.INTS), st.integers(-8, 8), st.integers(2**40, 2**70),
                 st.integers(-2**70, -2**40))
floats = st.one_of(st.sampled_from(fuzz.FLOATS), st.floats(allow_nan=True, allow_infinity=True))
arrays = st.builds(fuzz.make_array, st.sampled_from(fuzz.DTYPES), st.sampled_from(fuzz.SHAPES),
                   st.sampled_from(("C", "F", "strided", "readonly")), st.sampled_from(fuzz.FLOATS[:8]))
scalars = st.one_of(ints, floats, st.booleans(), st.none(), st.sampled_from(fuzz.STRINGS), st.text(max_size=6),
                    st.binary(max_size=4), st.sampled_from(fuzz.NUMPY_SCALARS), st.sampled_from(fuzz.OBJECTS),
                    st.builds(fuzz._Opaque))
values = st.recursive(st.one_of(scalars, arrays),
                      lambda inner: st.one_of(st.tuples(inner, inner), st.lists(inner, max_size=4),
                                              st.tuples(inner, inner, inner)),
                      max_leaves=8)


@st.composite
def fuzzed_calls(draw):
    op_name = draw(st.sampled_from(fuzz.OP_NAMES))
    names = sorted(fuzz.OPS[op_name][1])
    keys = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    return op_name, {key: draw(values) for key in keys}


@pytest.fixture(scope="module")
def capped_address_space():
    fuzz.call("conv2d", {})  # start the thread pool before capping the address space
    previous = fuzz.cap_address_space(2048)
    yield
    fuzz.restore_address_space(previous)


@settings(max_examples=settings().max_examples * 4)
@given(fuzzed_calls())
def test_arbitrary_argument_values_raise_only_documented_exceptions(capped_address_space,
                                                                    fuzzed_call):
    op_name, overrides = fuzzed_call
    note(fuzz.describe(op_name, overrides))
    fuzz.call(op_name, overrides)


@pytest.mark.parametrize("op_name", fuzz.OP_NAMES)
def test_every_valid_baseline_call_succeeds(op_name):
    result = fuzz.call(op_name, {})
    assert not isinstance(result, BaseException), f"{op_name}: the unfuzzed call raised {result!r}"


@pytest.mark.parametrize("op_name", [n for n in fuzz.OP_NAMES if "out" in fuzz.OPS[n][1]])
def test_a_rejected_out_is_left_untouched_by_every_op(op_name):
    out = np.full((1, 4, 5, 7), fuzz.SENTINEL, np.float32)  # a wrong shape for every op
    result = fuzz.call(op_name, {"out": out})
    assert isinstance(result, ValueError), f"{op_name}: {result!r}"
