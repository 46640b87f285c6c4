"""gconv.conv1d: the reference and torch on a pairwise grid, out=, unbatched,
layouts, and the errors, each naming its parameter."""

import doctest

import numpy as np
import pytest

import gconv
from gconv import _nd, reference
from conftest import assert_close, covering_array, message_names, random_array
from _nd_cases import NdCase

# (C, G, K): dense, grouped narrow and wide, depthwise with multipliers 1..3.
CHANNELS = ((3, 1, 5), (8, 2, 6), (12, 4, 8), (32, 2, 64), (6, 6, 6), (5, 5, 10), (4, 4, 12))
PADDINGS = (0, 2, (1,), ((2, 0),), ((0, 3),), "valid", "same")
EPILOGUES = ((False, None), (True, None), (True, "relu"), (False, "relu6"))


def grid():
    rows = covering_array({
        "channels": CHANNELS,
        "kernel": (1, 2, 3, 5),
        "stride": (1, 2, 3, (2,)),
        "dilation": (1, 2, (3,)),
        "padding": PADDINGS,
        "layout": ("NCL", "NLC"),
        "dtype": ("float32", "float64"),
        "n": (0, 1, 2, None),
        "length": (1, 7, 16, 33),
        "epilogue": EPILOGUES,
    }, seed=11)
    cases = []
    for i, row in enumerate(rows):
        c, g, k = row["channels"]
        bias, activation = row["epilogue"]
        cases.append(NdCase(c=c, g=g, k=k, spatial=(row["length"],), kernel=(row["kernel"],),
                            n=row["n"], stride=row["stride"], padding=row["padding"],
                            dilation=row["dilation"], layout=row["layout"], dtype=row["dtype"],
                            bias=bias, activation=activation, seed=100 + i).fit())
    return cases


GRID = grid()


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id())
def test_conv1d_matches_reference(case):
    case.check()


@pytest.mark.parametrize("case", GRID[::2], ids=lambda c: c.id())
def test_conv1d_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, w, b = case.arrays()
    got = case.run(x, w, b)
    assert_close(got, case.torch_result(torch, x, w, b), case.dtype, case.descriptor() + " peer=torch")


def test_conv1d_same_padding_stride2_puts_odd_pad_after():
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 6)
    y = gconv.conv1d(x, np.ones((1, 1, 2)), stride=2, padding="same")
    # ceil(6 / 2) = 3 outputs, 0 pad needed before: windows (0,1), (2,3), (4,5).
    np.testing.assert_array_equal(y.ravel(), [1.0, 5.0, 9.0])
    y = gconv.conv1d(x, np.ones((1, 1, 3)), stride=2, padding="same")
    # total pad 1, after: windows (0,1,2), (2,3,4), (4,5,pad).
    np.testing.assert_array_equal(y.ravel(), [3.0, 9.0, 9.0])


def test_conv1d_equals_conv2d_of_height_one():
    x = random_array((2, 6, 19), np.float32, 1)
    w = random_array((9, 2, 4), np.float32, 2)
    got = gconv.conv1d(x, w, groups=3, stride=2, padding=((1, 2),), dilation=2)
    via2d = gconv.conv2d(x[:, :, None], w[:, :, None], groups=3, stride=(1, 2),
                         padding=((0, 0), (1, 2)), dilation=(1, 2))
    np.testing.assert_array_equal(got, via2d[:, :, 0])


@pytest.mark.parametrize("layout", ["NCL", "NLC"])
def test_conv1d_accepts_non_contiguous_input(layout):
    base = random_array((2, 10, 24), np.float64, 3)
    x = base[:, ::2, ::2] if layout == "NCL" else base[:, ::2, ::2].transpose(0, 2, 1)
    w = random_array((4, 5, 3), np.float64, 4)
    got = gconv.conv1d(x, w, padding=1, layout=layout)
    assert_close(got, reference.conv1d(x, w, padding=1, layout=layout), np.float64, "non-contiguous")


@pytest.mark.parametrize("layout", ["NCL", "NLC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv1d_out_is_written_and_returned(layout, dtype):
    case = NdCase(c=6, g=3, k=6, spatial=(11,), kernel=(3,), n=2, padding=1, layout=layout,
                  dtype=dtype, bias=True, activation="relu")
    x, w, b = case.arrays()
    out = np.full(case.y_shape(), 7.25, dtype)
    assert case.run(x, w, b, out=out) is out
    assert_close(out, case.reference(x, w, b), dtype, case.descriptor() + " out=")


def test_conv1d_unbatched_gives_unbatched_result_and_out():
    x = random_array((4, 9), np.float32, 1)
    w = random_array((8, 2, 3), np.float32, 2)
    out = np.empty((8, 7), np.float32)
    assert gconv.conv1d(x, w, groups=2, out=out) is out
    assert_close(out, reference.conv1d(x, w, groups=2), np.float32, "unbatched")
    xl = np.ascontiguousarray(x.T)
    assert_close(gconv.conv1d(xl, w, groups=2, layout="NLC"),
                 reference.conv1d(xl, w, groups=2, layout="NLC"), np.float32, "unbatched NLC")


def test_conv1d_out_aliasing_the_input_still_gives_the_right_result():
    x = random_array((2, 6, 10), np.float64, 1)
    w = random_array((6, 2, 1), np.float64, 2)
    ref = reference.conv1d(x, w, groups=3)
    assert gconv.conv1d(x, w, groups=3, out=x) is x
    assert_close(x, ref, np.float64, "out aliases x")


def test_conv1d_empty_batch_gives_empty_result():
    y = gconv.conv1d(np.zeros((0, 4, 8), np.float32), np.zeros((6, 2, 3), np.float32), groups=2)
    assert y.shape == (0, 6, 6) and y.dtype == np.float32


def _bad_outs(shape):
    base = np.full(shape[:-1] + (2 * shape[-1],), 7.25, np.float32)
    return {
        "wrong_shape": (ValueError, np.full(shape[:-1] + (shape[-1] + 1,), 7.25, np.float32)),
        "wrong_dtype": (TypeError, np.full(shape, 7.25, np.float64)),
        "fortran": (ValueError, np.full(shape, 7.25, np.float32, order="F")),
        "strided": (ValueError, base[..., ::2]),
    }


@pytest.mark.parametrize("kind", ["wrong_shape", "wrong_dtype", "fortran", "strided"])
def test_conv1d_failing_out_is_left_untouched(kind):
    x = random_array((2, 4, 9), np.float32, 1)
    w = random_array((6, 2, 3), np.float32, 2)
    error, out = _bad_outs((2, 6, 7))[kind]
    with pytest.raises(error, match="out"):
        gconv.conv1d(x, w, groups=2, out=out)
    assert np.all(out == 7.25)


def test_conv1d_out_must_be_an_array():
    with pytest.raises(TypeError, match="out"):
        gconv.conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 2)), out=[[[0.0] * 3]])


def test_conv1d_failing_call_leaves_out_untouched():
    out = np.full((1, 6, 7), 7.25, np.float32)
    with pytest.raises(ValueError):
        gconv.conv1d(np.ones((1, 4, 9), np.float32), np.ones((6, 2, 3), np.float32), groups=3,
                     out=out)
    assert np.all(out == 7.25)


X = np.ones((2, 6, 10), np.float32)
W = np.ones((4, 3, 3), np.float32)

ERRORS = {
    "groups_do_not_divide_channels": (
        lambda: gconv.conv1d(X, np.ones((4, 2, 3), np.float32), groups=4), ValueError,
        ("in_channels", "6", "groups", "4")),
    "channels_do_not_match_weight": (
        lambda: gconv.conv1d(X, np.ones((4, 2, 3), np.float32), groups=2), ValueError,
        ("groups=2", r"\[4, 2, 3\]", "4 channels", "got 6")),
    "out_channels_not_divisible": (
        lambda: gconv.conv1d(X, np.ones((5, 3, 3), np.float32), groups=2), ValueError,
        ("out_channels", "5", "groups", "2")),
    "weight_is_4d": (
        lambda: gconv.conv1d(X, np.ones((4, 3, 3, 3), np.float32), groups=2), ValueError,
        ("weight", "3-D", r"\(4, 3, 3, 3\)")),
    "input_is_4d": (
        lambda: gconv.conv1d(np.ones((1, 2, 6, 10), np.float32), W, groups=2), ValueError,
        ("input", "3-D", "2-D")),
    "stride_tuple_too_long": (
        lambda: gconv.conv1d(X, W, groups=2, stride=(1, 1)), ValueError, ("stride", "1 elements")),
    "stride_zero": (lambda: gconv.conv1d(X, W, groups=2, stride=0), ValueError, ("stride",)),
    "stride_float": (lambda: gconv.conv1d(X, W, groups=2, stride=1.5), TypeError, ("stride",)),
    "dilation_negative": (lambda: gconv.conv1d(X, W, groups=2, dilation=-1), ValueError, ("dilation",)),
    "padding_negative": (lambda: gconv.conv1d(X, W, groups=2, padding=-1), ValueError, ("padding", "-1")),
    "padding_two_dims": (lambda: gconv.conv1d(X, W, groups=2, padding=(1, 1)), ValueError, ("padding", "1 entries")),
    "padding_unknown_string": (lambda: gconv.conv1d(X, W, groups=2, padding="full"), ValueError, ("padding", "full")),
    "kernel_longer_than_input": (
        lambda: gconv.conv1d(X, np.ones((4, 3, 12), np.float32), groups=2), ValueError,
        ("length", "10", "12")),
    "layout_2d": (lambda: gconv.conv1d(X, W, groups=2, layout="NCHW"), ValueError, ("layout", "NCL", "NLC")),
    "layout_not_str": (lambda: gconv.conv1d(X, W, groups=2, layout=1), TypeError, ("layout",)),
    "activation_unknown": (lambda: gconv.conv1d(X, W, groups=2, activation="tanh"), ValueError,
                           ("activation", "tanh")),
    "bias_shape": (lambda: gconv.conv1d(X, W, np.ones(3, np.float32), groups=2), ValueError,
                   ("bias", r"\(4,\)", r"\(3,\)")),
    "mixed_dtypes": (lambda: gconv.conv1d(X.astype(np.float64), W, groups=2), TypeError, ("float64", "float32")),
    "int_input": (lambda: gconv.conv1d(X.astype(np.int32), W, groups=2), TypeError, ("input", "int32")),
    "groups_zero": (lambda: gconv.conv1d(X, W, groups=0), ValueError, ("groups", "0")),
    "groups_bool": (lambda: gconv.conv1d(X, W, groups=True), TypeError, ("groups",)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_conv1d_errors_name_the_parameter(name):
    call, error, patterns = ERRORS[name]
    with pytest.raises(error) as excinfo:
        call()
    message_names(excinfo, *patterns)


def test_conv1d_and_conv3d_docstring_examples_run():
    result = doctest.testmod(_nd, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
