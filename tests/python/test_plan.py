"""gconv.Conv2d: a reusable plan that gives conv2d's results."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import GRID, ConvCase, assert_close, assert_same_bits, expected_algorithm, random_array


def _plan(case, w, b, **extra):
    return gconv.Conv2d(w, b, stride=case.stride, padding=case.padding, dilation=case.dilation,
                        groups=case.g, layout=case.layout, activation=case.activation, **extra)


@pytest.mark.parametrize("case", GRID[::3], ids=lambda c: c.id())
def test_plan_gives_the_same_bits_as_conv2d(case):
    x, w, b = case.arrays()
    got = _plan(case, w, b)(x)
    assert_close(got, case.reference(x, w, b), case.dtype, case.descriptor(op="Conv2d"))
    assert_same_bits(got, gconv.conv2d(x, w, b, **case.kwargs()), case.descriptor(op="Conv2d"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plan_copies_the_weights_and_bias(dtype):
    x = random_array((2, 8, 6, 6), dtype, 1)
    w = random_array((16, 2, 3, 3), dtype, 2)
    b = random_array((16,), dtype, 3)
    ref = reference.conv2d(x, w, b, padding=1, groups=4)
    plan = gconv.Conv2d(w, b, padding=1, groups=4)
    w[...] = 100.0
    b[...] = -100.0
    assert_close(plan(x), ref, dtype, "plan after the caller changed weight and bias")


def test_plan_made_from_a_non_contiguous_weight_view_copies_it():
    base = random_array((16, 4, 3, 6), np.float32, 2)
    w = base[..., ::2]
    x = random_array((1, 16, 7, 7), np.float32, 1)
    ref = reference.conv2d(x, w, groups=4)
    plan = gconv.Conv2d(w, groups=4)
    base[...] = 0.0
    assert_close(plan(x), ref, np.float32, "plan from a strided weight view")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_plan_accepts_new_input_shapes_including_same_padding(layout):
    w = random_array((12, 2, 3, 3), np.float32, 1)
    b = random_array((12,), np.float32, 2)
    plan = gconv.Conv2d(w, b, stride=2, padding="same", groups=3, layout=layout, activation="relu6")
    for i, (n, h, wd) in enumerate([(1, 5, 5), (3, 8, 7), (0, 4, 4), (2, 1, 12), (1, 11, 3), (3, 8, 7)]):
        shape = (n, 6, h, wd) if layout == "NCHW" else (n, h, wd, 6)
        x = random_array(shape, np.float32, 10 + i)
        ref = reference.conv2d(x, w, b, stride=2, padding="same", groups=3, layout=layout, activation="relu6")
        assert_close(plan(x), ref, np.float32, f"plan input {shape} layout={layout}")
        if n:
            assert_close(plan(x[0]), ref[0], np.float32, f"plan unbatched input {shape[1:]} layout={layout}")


@pytest.mark.parametrize("case", [
    ConvCase(c=8, g=8, k=16, h=6, w=6, kernel=(6, 6)),
    ConvCase(c=32, g=2, k=32, h=6, w=6),
    ConvCase(c=8, g=2, k=8, h=6, w=6),
    ConvCase(c=8, g=1, k=8, h=6, w=6, kernel=(1, 1)),
], ids=lambda c: c.id())
def test_plan_algorithm_changes_with_the_input_shape(case):
    # The same weights on a larger input: a GDC plan stops being global; others keep their choice.
    w = np.ones(case.w_shape(), np.float32)
    plan = gconv.Conv2d(w, groups=case.g)
    assert plan.algorithm(case.x_shape()) == expected_algorithm(case)
    bigger = ConvCase(c=case.c, g=case.g, k=case.k, h=9, w=9, kernel=case.kernel)
    assert plan.algorithm(bigger.x_shape()) == expected_algorithm(bigger)


def test_plan_with_forced_algorithm_matches_reference():
    case = ConvCase(c=16, g=4, k=16, h=9, w=10, padding=1, n=2, layout="NHWC", bias=True)
    x, w, b = case.arrays()
    for algorithm in ("im2col_gemm", "grouped_direct"):
        plan = _plan(case, w, b, force_algorithm=algorithm)
        assert plan.algorithm(x.shape) == algorithm
        assert_close(plan(x), case.reference(x, w, b), case.dtype, case.descriptor(force_algorithm=algorithm))


def test_plan_rejects_input_of_another_dtype_or_channel_count():
    plan = gconv.Conv2d(np.ones((8, 2, 3, 3), np.float32), groups=2)
    with pytest.raises(TypeError):
        plan(np.ones((1, 4, 5, 5), np.float64))
    with pytest.raises(ValueError):
        plan(np.ones((1, 6, 5, 5), np.float32))
    with pytest.raises(ValueError):
        plan(np.ones((1, 4, 2, 2), np.float32))
    assert plan(np.ones((1, 4, 5, 5), np.float32)).shape == (1, 8, 3, 3)


def _plan_and_inputs(seed=11, size=(6, 7)):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
    xs = [rng.standard_normal((2, 8, *size)).astype(np.float32) for _ in range(3)]
    conv = gconv.Conv2d(w, padding=1, groups=4)
    expected = [gconv.conv2d(x, w, padding=1, groups=4) for x in xs]
    return conv, xs, expected


def test_plan_writes_into_the_memory_of_a_result_the_caller_dropped():
    conv, xs, expected = _plan_and_inputs()
    address = conv(xs[0]).ctypes.data  # the result is dropped right here
    y = conv(xs[1])
    assert y.ctypes.data == address
    assert_same_bits(y, expected[1], "reused result")


# Small results own their memory; from 64 KiB they are views of a buffer
# placed on whole cache lines (_alloc.empty), which a view of the result
# holds instead of the result itself.
@pytest.mark.parametrize("size", [(6, 7), (64, 72)], ids=["small", "line_aligned"])
def test_plan_never_writes_into_a_result_still_referenced(size):
    conv, xs, expected = _plan_and_inputs(size=size)
    kept = conv(xs[0])
    view = conv(xs[1])[1:]  # the view keeps its base alive
    exported = memoryview(conv(xs[2]))
    y = conv(xs[0])
    for a in (kept, view, np.asarray(exported)):
        assert not np.shares_memory(a, y)
    assert_same_bits(kept, expected[0], "kept result")
    assert_same_bits(view, expected[1][1:], "view")
    assert_same_bits(np.asarray(exported), expected[2], "exported buffer")
    assert_same_bits(y, expected[0], "new result")


def test_plan_allocates_anew_when_the_input_shape_changes():
    conv, xs, expected = _plan_and_inputs()
    conv(xs[0])
    y = conv(xs[0][:1])
    assert y.shape == (1, 8, 6, 7)
    assert_same_bits(y, expected[0][:1], "smaller batch")


def test_plan_result_may_be_its_next_input():
    rng = np.random.default_rng(3)
    conv = gconv.Conv2d(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), padding=1)
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    y1 = conv(x)
    expected = reference.conv2d(y1, conv.weight, padding=1)
    y2 = conv(y1)
    assert not np.shares_memory(y1, y2)
    assert_close(y2, expected, np.float32, "result as next input")
