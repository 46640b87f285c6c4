"""NaN and Inf propagate to every output whose window holds them, under
every algorithm, as in the reference's plain sum of products."""

from dataclasses import replace

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ConvCase, accepts, assert_close

CASES = [
    ("grouped_direct", ConvCase(c=8, g=2, k=8, h=9, w=11, padding=1, stride=2, n=2)),
    ("im2col_gemm", ConvCase(c=32, g=2, k=32, h=9, w=10, padding=(2, 1), dilation=2, n=2)),
    ("gemm_1x1", ConvCase(c=16, g=1, k=16, h=5, w=17, kernel=(1, 1), n=2)),
    ("depthwise", ConvCase(c=16, g=16, k=32, h=9, w=17, padding=1, n=2)),
    ("depthwise", ConvCase(c=16, g=16, k=16, h=12, w=12, kernel=(5, 5), stride=2, padding="same", n=2)),
    ("global_depthwise", ConvCase(c=16, g=16, k=16, h=5, w=7, kernel=(5, 7), n=2)),
]
PARAMS = [(alg, replace(case, layout=layout, dtype=dtype))
          for alg, case in CASES for layout in ("NCHW", "NHWC") for dtype in ("float32", "float64")]


def _with_nonfinite(case, values):
    """The case's data with ``values`` planted at fixed input positions (channel, row, col)."""
    x, w, b = case.arrays()
    w = np.abs(w)  # a window holding +Inf stays +Inf
    spots = [(1, case.h // 2, case.w - 1), (case.c - 1, 0, 0), (0, case.h - 1, case.w // 3)]
    for value, (ch, row, col) in zip(values, spots):
        index = (ch, row, col) if case.layout == "NCHW" else (row, col, ch)
        x[(0,) + index] = value
    return x, w, b


@pytest.mark.parametrize("values", [(np.nan,), (np.inf,), (-np.inf, np.nan), (np.inf, -np.inf, np.nan)],
                         ids=["nan", "inf", "neg_inf_and_nan", "inf_neg_inf_nan"])
@pytest.mark.parametrize("algorithm,case", PARAMS, ids=lambda v: v if isinstance(v, str) else v.id())
def test_nonfinite_input_reaches_exactly_the_windows_that_hold_it(algorithm, case, values):
    assert accepts(case, algorithm)
    x, w, b = _with_nonfinite(case, values)
    ref = reference.conv2d(x, w, b, **case.kwargs())
    assert not np.isfinite(ref).all()
    got = gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm)
    assert_close(got, ref, case.dtype, case.descriptor(force_algorithm=algorithm, planted=values))


@pytest.mark.parametrize("activation", ["relu", "relu6"])
@pytest.mark.parametrize("algorithm,case", PARAMS[::4], ids=lambda v: v if isinstance(v, str) else v.id())
def test_nan_survives_the_activation_and_inf_is_clamped_by_relu6(algorithm, case, activation):
    case = replace(case, activation=activation, bias=True)
    x, w, b = _with_nonfinite(case, (np.nan, np.inf))
    ref = reference.conv2d(x, w, b, **case.kwargs())
    got = gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm)
    assert np.isnan(ref).any()
    assert_close(got, ref, case.dtype, case.descriptor(force_algorithm=algorithm))


@pytest.mark.parametrize("algorithm,case", PARAMS[::2], ids=lambda v: v if isinstance(v, str) else v.id())
def test_nan_weight_and_nan_bias_poison_their_output_channel(algorithm, case):
    # A NaN weight is only planted without padding: whether 0 (padding) * NaN
    # counts is the one place where a sum over the padded input and a sum
    # over the real input differ, and API.md only speaks of NaN in the input.
    case = replace(case, bias=True)
    x, w, b = case.arrays()
    unpadded = case.pads() == ((0, 0), (0, 0))
    if unpadded:
        w[1, 0, 0, 0] = np.nan
    b[-1] = np.nan
    got = gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm)
    channels = got if case.layout == "NHWC" else np.moveaxis(got, 1, -1)
    assert np.isnan(channels[..., -1]).all()
    assert np.isnan(channels[..., 1]).all() == unpadded
    assert_close(got, reference.conv2d(x, w, b, **case.kwargs()), case.dtype,
                 case.descriptor(force_algorithm=algorithm))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_nan_and_inf_propagate_through_global_avg_pool(layout):
    x = np.ones((2, 4, 3, 3), np.float32)
    x[0, 1, 2, 2] = np.nan
    x[1, 3, 0, 1] = np.inf
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = gconv.global_avg_pool2d(x, layout=layout)
    assert_close(got, reference.global_avg_pool2d(x, layout=layout), np.float32, f"gap nonfinite {layout}")


def test_channel_shuffle_moves_nan_with_its_channel():
    x = np.zeros((1, 6, 2, 2), np.float64)
    x[0, 1] = np.nan
    got = gconv.channel_shuffle(x, 2)
    assert np.isnan(got[0, 2]).all() and not np.isnan(np.delete(got, 2, axis=1)).any()
