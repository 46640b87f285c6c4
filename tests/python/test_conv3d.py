"""gconv.conv3d: the reference and torch on a pairwise grid, the depth-tap
folding in blocks, out=, unbatched, layouts, and the errors."""

import numpy as np
import pytest

import gconv
from gconv import _nd, reference
from conftest import assert_close, covering_array, message_names, random_array
from _nd_cases import NdCase

CHANNELS = ((3, 1, 4), (8, 2, 6), (12, 4, 8), (16, 1, 32), (6, 6, 6), (4, 4, 12))
PADDINGS = (0, 1, (2, 0, 1), ((0, 2), (1, 0), (1, 1)), ((3, 1), (0, 0), (2, 0)), "valid", "same")
EPILOGUES = ((False, None), (True, None), (True, "relu"), (False, "relu6"))


def grid():
    rows = covering_array({
        "channels": CHANNELS,
        "kernel": ((1, 1, 1), (3, 3, 3), (2, 3, 1), (3, 1, 2)),
        "stride": (1, 2, (3, 1, 2)),
        "dilation": (1, 2, (1, 2, 1)),
        "padding": PADDINGS,
        "layout": ("NCDHW", "NDHWC"),
        "dtype": ("float32", "float64"),
        "n": (0, 1, 2, None),
        "spatial": ((1, 1, 1), (5, 4, 6), (7, 5, 3)),
        "epilogue": EPILOGUES,
    }, seed=13)
    cases = []
    for i, row in enumerate(rows):
        c, g, k = row["channels"]
        bias, activation = row["epilogue"]
        cases.append(NdCase(c=c, g=g, k=k, spatial=row["spatial"], kernel=row["kernel"],
                            n=row["n"], stride=row["stride"], padding=row["padding"],
                            dilation=row["dilation"], layout=row["layout"], dtype=row["dtype"],
                            bias=bias, activation=activation, seed=300 + i).fit())
    return cases


GRID = grid()


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id())
def test_conv3d_matches_reference(case):
    case.check()


@pytest.mark.parametrize("case", GRID[::2], ids=lambda c: c.id())
def test_conv3d_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, w, b = case.arrays()
    got = case.run(x, w, b)
    assert_close(got, case.torch_result(torch, x, w, b), case.dtype, case.descriptor() + " peer=torch")


@pytest.mark.parametrize("stack_bytes", [1, 5000, 20000])
@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
def test_conv3d_in_blocks_of_output_slices_matches_one_block(monkeypatch, layout, stack_bytes):
    # One (image, slice) row stacks 3*4*5*4 float64 = 1920 bytes and OD = 4:
    # 1 byte gives one output slice per block, 5000 two slices of one image,
    # 20000 two whole images and then one.
    case = NdCase(c=4, g=2, k=6, spatial=(6, 5, 4), kernel=(3, 2, 3), n=3, stride=(2, 1, 1),
                  padding=((1, 2), (0, 1), (1, 1)), layout=layout, dtype="float64", bias=True,
                  activation="relu")
    monkeypatch.setattr(_nd, "_STACK_BYTES", stack_bytes)
    case.check()


def test_conv3d_output_slices_wholly_in_the_depth_padding_hold_the_bias():
    x = random_array((1, 2, 3, 4, 4), np.float32, 1)
    w = random_array((3, 2, 1, 3, 3), np.float32, 2)
    b = np.array([1.0, -2.0, 3.0], np.float32)
    y = gconv.conv3d(x, w, b, padding=((2, 2), (1, 1), (1, 1)))
    assert y.shape == (1, 3, 7, 4, 4)
    np.testing.assert_array_equal(y[0, :, :2], np.broadcast_to(b[:, None, None, None], (3, 2, 4, 4)))
    assert_close(y, reference.conv3d(x, w, b, padding=((2, 2), (1, 1), (1, 1))), np.float32, "depth pad")


def test_conv3d_depthwise_with_multiplier_matches_reference():
    x = random_array((2, 5, 6, 7, 8), np.float32, 1)
    w = random_array((10, 1, 3, 3, 3), np.float32, 2)
    got = gconv.conv3d(x, w, groups=5, padding="same", stride=2)
    assert_close(got, reference.conv3d(x, w, groups=5, padding="same", stride=2), np.float32, "dw3d")


@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
@pytest.mark.parametrize("stride, dilation, padding", [
    (1, 1, 1), ((2, 1, 1), 1, ((1, 2), (1, 1), (0, 1))), (1, (2, 1, 1), ((3, 0), (0, 0), (1, 1))),
    ((3, 2, 1), (1, 1, 2), "same"), (1, 1, ((0, 4), (1, 1), (1, 1)))])
@pytest.mark.parametrize("multiplier", [1, 3])
def test_conv3d_depthwise_by_depth_taps_matches_reference(layout, stride, dilation, padding, multiplier):
    case = NdCase(c=4, g=4, k=4 * multiplier, spatial=(5, 6, 5), kernel=(3, 3, 2), n=2, stride=stride,
                  padding=padding, dilation=dilation, layout=layout, dtype="float64", bias=True,
                  activation="relu6", seed=7).fit()
    case.check()


def test_conv3d_kernel_of_depth_one_equals_conv2d_per_slice():
    x = random_array((2, 6, 4, 5, 5), np.float64, 1)
    w = random_array((4, 3, 1, 3, 3), np.float64, 2)
    got = gconv.conv3d(x, w, groups=2, padding=(0, 1, 1), layout="NCDHW")
    for d in range(4):
        np.testing.assert_allclose(got[:, :, d], gconv.conv2d(x[:, :, d], w[:, :, 0], groups=2, padding=1),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
def test_conv3d_accepts_non_contiguous_input(layout):
    base = random_array((2, 8, 6, 10, 6), np.float64, 3)
    x = base[:, ::2, :, ::2]
    if layout == "NDHWC":
        x = x.transpose(0, 2, 3, 4, 1)
    w = random_array((2, 4, 2, 2, 2), np.float64, 4)
    got = gconv.conv3d(x, w, padding=1, layout=layout)
    assert_close(got, reference.conv3d(x, w, padding=1, layout=layout), np.float64, "non-contiguous")


@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv3d_out_is_written_and_returned(layout, dtype):
    case = NdCase(c=4, g=2, k=6, spatial=(4, 5, 3), kernel=(3, 3, 3), n=2, padding=1,
                  layout=layout, dtype=dtype, bias=True, activation="relu6")
    x, w, b = case.arrays()
    out = np.full(case.y_shape(), 7.25, dtype)
    assert case.run(x, w, b, out=out) is out
    assert_close(out, case.reference(x, w, b), dtype, case.descriptor() + " out=")


def test_conv3d_unbatched_gives_unbatched_result_and_out():
    x = random_array((4, 3, 5, 5), np.float32, 1)
    w = random_array((2, 4, 2, 3, 3), np.float32, 2)
    out = np.empty((2, 2, 3, 3), np.float32)
    assert gconv.conv3d(x, w, out=out) is out
    assert_close(out, reference.conv3d(x, w), np.float32, "unbatched")


@pytest.mark.parametrize("layout", ["NCDHW", "NDHWC"])
def test_conv3d_out_aliasing_the_input_still_gives_the_right_result(layout):
    x = random_array((2, 6, 3, 4, 5) if layout == "NCDHW" else (2, 3, 4, 5, 6), np.float64, 1)
    w = random_array((6, 2, 1, 1, 1), np.float64, 2)
    ref = reference.conv3d(x, w, groups=3, layout=layout)
    assert gconv.conv3d(x, w, groups=3, layout=layout, out=x) is x
    assert_close(x, ref, np.float64, f"out aliases x {layout}")


def test_conv3d_out_aliasing_the_weight_still_gives_the_right_result():
    x = random_array((1, 2, 1, 1, 1), np.float32, 1)
    w = random_array((2, 1, 1, 1, 1), np.float32, 2)
    out = w.reshape(1, 2, 1, 1, 1)
    ref = reference.conv3d(x, w, groups=2)
    gconv.conv3d(x, w, groups=2, out=out)
    assert_close(out, ref, np.float32, "out aliases weight")


def test_conv3d_empty_batch_gives_empty_result():
    y = gconv.conv3d(np.zeros((0, 4, 3, 3, 3)), np.zeros((2, 4, 3, 3, 3)), layout="NCDHW")
    assert y.shape == (0, 2, 1, 1, 1)


@pytest.mark.parametrize("kind", ["wrong_shape", "wrong_dtype", "fortran", "strided"])
def test_conv3d_failing_out_is_left_untouched(kind):
    x = random_array((2, 4, 3, 5, 5), np.float32, 1)
    w = random_array((6, 2, 3, 3, 3), np.float32, 2)
    shape = (2, 6, 1, 3, 3)
    base = np.full(shape[:-1] + (6,), 7.25, np.float32)
    error, out = {
        "wrong_shape": (ValueError, np.full((2, 6, 1, 3, 4), 7.25, np.float32)),
        "wrong_dtype": (TypeError, np.full(shape, 7.25, np.float64)),
        "fortran": (ValueError, np.full(shape, 7.25, np.float32, order="F")),
        "strided": (ValueError, base[..., ::2]),
    }[kind]
    with pytest.raises(error, match="out"):
        gconv.conv3d(x, w, groups=2, out=out)
    assert np.all(out == 7.25) and np.all(base == 7.25)


def test_conv3d_failing_call_leaves_out_untouched():
    out = np.full((2, 6, 1, 3, 3), 7.25, np.float32)
    with pytest.raises(ValueError):
        gconv.conv3d(np.ones((2, 4, 3, 5, 5), np.float32), np.ones((6, 2, 3, 3, 3), np.float32),
                     groups=2, stride=(1, 1), out=out)
    assert np.all(out == 7.25)


def test_conv3d_nan_reaches_only_the_windows_holding_it():
    x = np.zeros((1, 1, 5, 5, 5))
    x[0, 0, 0, 0, 0] = np.nan
    y = gconv.conv3d(x, np.ones((1, 1, 3, 3, 3)), padding=1, stride=2)
    assert np.isnan(y[0, 0, 0, 0, 0]) and np.isnan(y).sum() == 1


X = np.ones((2, 6, 4, 5, 5), np.float32)
W = np.ones((4, 3, 3, 3, 3), np.float32)

ERRORS = {
    "groups_do_not_divide_channels": (
        lambda: gconv.conv3d(X, np.ones((4, 2, 3, 3, 3), np.float32), groups=4), ValueError,
        ("in_channels", "6", "groups", "4")),
    "channels_do_not_match_weight": (
        lambda: gconv.conv3d(X, np.ones((4, 2, 3, 3, 3), np.float32), groups=2), ValueError,
        ("groups=2", "4 channels", "got 6")),
    "weight_is_4d": (lambda: gconv.conv3d(X, np.ones((4, 3, 3, 3), np.float32), groups=2), ValueError,
                     ("weight", "5-D", r"\(4, 3, 3, 3\)")),
    "input_is_3d": (lambda: gconv.conv3d(np.ones((6, 4, 5), np.float32), W, groups=2), ValueError,
                    ("input", "5-D", "3-D")),
    "stride_tuple_too_short": (lambda: gconv.conv3d(X, W, groups=2, stride=(1, 1)), ValueError,
                               ("stride", "3 elements")),
    "dilation_float": (lambda: gconv.conv3d(X, W, groups=2, dilation=2.0), TypeError, ("dilation",)),
    "padding_pair_of_three": (lambda: gconv.conv3d(X, W, groups=2, padding=((1, 1, 1), 0, 0)),
                              ValueError, ("padding", "before, after")),
    "kernel_deeper_than_input": (lambda: gconv.conv3d(X, np.ones((4, 3, 5, 3, 3), np.float32), groups=2),
                                 ValueError, ("depth", "4", "5")),
    "kernel_wider_than_input": (lambda: gconv.conv3d(X, np.ones((4, 3, 3, 3, 6), np.float32), groups=2),
                                ValueError, ("width", "5", "6")),
    "layout_2d": (lambda: gconv.conv3d(X, W, groups=2, layout="NHWC"), ValueError, ("layout", "NCDHW", "NDHWC")),
    "bias_dtype": (lambda: gconv.conv3d(X, W, np.ones(4), groups=2), TypeError, ("bias", "float64")),
    "huge_stride": (lambda: gconv.conv3d(X, W, groups=2, stride=2**70), ValueError, ("stride", "64-bit")),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_conv3d_errors_name_the_parameter(name):
    call, error, patterns = ERRORS[name]
    with pytest.raises(error) as excinfo:
        call()
    message_names(excinfo, *patterns)
