"""Every algorithm, forced on shapes it accepts, against the reference; the
planner's automatic order; forcing an algorithm that does not accept raises."""

import numpy as np
import pytest

import gconv
from conftest import GRID, ConvCase, accepts, covering_array, expected_algorithm

ALGORITHMS = ("gemm_1x1", "im2col_gemm", "grouped_direct", "depthwise", "global_depthwise")

# Widths around the SIMD widths (8 floats / 16 floats, 4 / 8 doubles) to hit the tails.
TAIL_WIDTHS = (1, 3, 7, 8, 9, 15, 16, 17, 31, 33)


def _gemm_1x1_cases():
    rows = covering_array({
        "channels": ((3, 1, 5), (16, 1, 16), (64, 1, 24), (8, 4, 8), (32, 2, 32), (12, 12, 12), (24, 3, 48)),
        "width": TAIL_WIDTHS,
        "height": (1, 2, 5),
        "layout": ("NCHW", "NHWC"),
        "dtype": ("float32", "float64"),
        "n": (0, 1, 3, None),
        "epilogue": ((False, None), (True, "relu"), (True, "relu6")),
    }, seed=2)
    return [ConvCase(c=r["channels"][0], g=r["channels"][1], k=r["channels"][2], h=r["height"],
                     w=r["width"], kernel=(1, 1), n=r["n"], layout=r["layout"], dtype=r["dtype"],
                     bias=r["epilogue"][0], activation=r["epilogue"][1], seed=2000 + i)
            for i, r in enumerate(rows)]


def _depthwise_cases():
    rows = covering_array({
        "channels": ((8, 1), (7, 2), (16, 3), (17, 1), (1, 2)),  # (C, multiplier)
        "kernel": ((3, 3), (5, 5), (7, 7), (1, 1), (3, 5)),
        "stride": (1, 2, 3),
        "dilation": (1, 2),
        "padding": (0, 1, "same", ((2, 0), (0, 1))),
        "width": TAIL_WIDTHS,
        "layout": ("NCHW", "NHWC"),
        "dtype": ("float32", "float64"),
        "epilogue": ((False, None), (True, "relu"), (True, "relu6")),
    }, seed=3)
    cases = []
    for i, r in enumerate(rows):
        c, m = r["channels"]
        r_, s_ = r["kernel"]
        # Height and width large enough for every kernel/dilation with no padding.
        h = max(2 * r_ - 1, 6)
        w = max(r["width"], 2 * s_ - 1)
        cases.append(ConvCase(c=c, g=c, k=c * m, h=h, w=w, kernel=r["kernel"], n=2, stride=r["stride"],
                              padding=r["padding"], dilation=r["dilation"], layout=r["layout"],
                              dtype=r["dtype"], bias=r["epilogue"][0], activation=r["epilogue"][1],
                              seed=3000 + i))
    return cases


def _global_depthwise_cases():
    cases = []
    shapes = [(8, 1, 7, 7, 0), (5, 2, 3, 9, 0), (16, 3, 4, 4, 1), (3, 1, 1, 1, 0), (17, 1, 6, 5, ((1, 0), (0, 2)))]
    for i, (c, m, h, w, pad) in enumerate(shapes):
        case = ConvCase(c=c, g=c, k=c * m, h=h, w=w, kernel=(1, 1), n=3, padding=pad, seed=4000 + i)
        (pt, pb), (pl, pr) = case.pads()
        kernel = (h + pt + pb, w + pl + pr)
        for layout in ("NCHW", "NHWC"):
            for dtype in ("float32", "float64"):
                cases.append(ConvCase(c=c, g=c, k=c * m, h=h, w=w, kernel=kernel, n=3, padding=pad,
                                      layout=layout, dtype=dtype, bias=i % 2 == 0, seed=4000 + i))
    return cases


FORCED = (
    [("gemm_1x1", case) for case in _gemm_1x1_cases()]
    + [("depthwise", case) for case in _depthwise_cases()]
    + [("depthwise", case) for case in GRID if accepts(case, "depthwise")]
    + [("global_depthwise", case) for case in _global_depthwise_cases()]
    + [("gemm_1x1", case) for case in GRID if accepts(case, "gemm_1x1")]
    + [("im2col_gemm", case) for case in GRID[0::2]]
    + [("grouped_direct", case) for case in GRID[1::2]]
    + [("im2col_gemm", case) for case in _depthwise_cases()[::3]]
    + [("grouped_direct", case) for case in _depthwise_cases()[1::3]]
    + [("im2col_gemm", case) for case in _gemm_1x1_cases()[::3]]
    + [("grouped_direct", case) for case in _gemm_1x1_cases()[1::3]]
)


@pytest.mark.parametrize("algorithm,case", FORCED, ids=lambda v: v if isinstance(v, str) else v.id())
def test_forced_algorithm_matches_reference(algorithm, case):
    assert accepts(case, algorithm)
    case.check(force_algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_forced_algorithm_is_reported_by_plan(algorithm):
    case = next(c for a, c in FORCED if a == algorithm)
    x, w, b = case.arrays()
    plan = gconv.Conv2d(w, b, stride=case.stride, padding=case.padding, dilation=case.dilation,
                        groups=case.g, layout=case.layout, activation=case.activation,
                        force_algorithm=algorithm)
    assert plan.algorithm(x.shape) == algorithm


REJECTED = [(algorithm, case) for case in GRID for algorithm in ALGORITHMS
            if not accepts(case, algorithm)][::3]


@pytest.mark.parametrize("algorithm,case", REJECTED, ids=lambda v: v if isinstance(v, str) else v.id())
def test_forcing_an_algorithm_that_does_not_accept_raises_value_error(algorithm, case):
    x, w, b = case.arrays()
    with pytest.raises(ValueError, match=algorithm):
        gconv.conv2d(x, w, b, **case.kwargs(), force_algorithm=algorithm)


def test_forcing_an_unknown_algorithm_raises_value_error():
    x = np.ones((1, 4, 5, 5), np.float32)
    w = np.ones((4, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="winograd"):
        gconv.conv2d(x, w, force_algorithm="winograd")


def test_algorithms_constant_lists_every_algorithm():
    assert tuple(gconv.ALGORITHMS) == ALGORITHMS


@pytest.mark.parametrize("case", GRID, ids=lambda case: case.id())
def test_plan_picks_algorithms_in_the_documented_order(case):
    x_shape = case.x_shape()
    plan = gconv.Conv2d(np.ones(case.w_shape(), case.dtype), stride=case.stride, padding=case.padding,
                        dilation=case.dilation, groups=case.g, layout=case.layout)
    assert plan.algorithm(x_shape) == expected_algorithm(case), case.descriptor()


# Boundaries of the automatic choice, each named after the rule it pins down.
ORDER_EXAMPLES = [
    ("gdc_kernel_equals_input", ConvCase(c=8, g=8, k=8, h=7, w=7, kernel=(7, 7)), "global_depthwise"),
    ("gdc_kernel_equals_padded_input", ConvCase(c=8, g=8, k=16, h=5, w=5, kernel=(7, 7), padding=1),
     "global_depthwise"),
    ("gdc_ignores_stride", ConvCase(c=4, g=4, k=4, h=3, w=3, kernel=(3, 3), stride=2), "global_depthwise"),
    ("depthwise_before_gemm_1x1", ConvCase(c=16, g=16, k=16, h=5, w=5, kernel=(1, 1)), "depthwise"),
    ("depthwise_with_multiplier", ConvCase(c=8, g=8, k=24, h=9, w=9), "depthwise"),
    ("single_channel_is_depthwise", ConvCase(c=1, g=1, k=4, h=8, w=8), "depthwise"),
    ("gemm_1x1_dense", ConvCase(c=32, g=1, k=32, h=5, w=5, kernel=(1, 1)), "gemm_1x1"),
    ("gemm_1x1_narrow_groups", ConvCase(c=8, g=4, k=8, h=5, w=5, kernel=(1, 1)), "gemm_1x1"),
    ("1x1_stride2_wide_is_im2col", ConvCase(c=64, g=2, k=128, h=6, w=6, kernel=(1, 1), stride=2),
     "im2col_gemm"),
    ("1x1_padded_narrow_is_direct", ConvCase(c=8, g=2, k=8, h=6, w=6, kernel=(1, 1), padding=1), "grouped_direct"),
    ("wide_groups_32_64_is_im2col", ConvCase(c=64, g=2, k=128, h=8, w=8), "im2col_gemm"),
    ("groups_of_32_are_im2col", ConvCase(c=64, g=2, k=64, h=8, w=8), "im2col_gemm"),
    ("resnext_groups_of_16_are_direct", ConvCase(c=32, g=2, k=32, h=8, w=8), "grouped_direct"),
    ("narrow_output_groups_is_direct", ConvCase(c=64, g=2, k=62, h=8, w=8), "grouped_direct"),
    ("narrow_input_groups_is_direct", ConvCase(c=62, g=2, k=128, h=8, w=8), "grouped_direct"),
    ("dense_rgb_input_is_direct", ConvCase(c=3, g=1, k=16, h=8, w=8), "grouped_direct"),
    ("dense_wide_is_im2col", ConvCase(c=32, g=1, k=64, h=8, w=8), "im2col_gemm"),
]


@pytest.mark.parametrize("case,expected", [(c, e) for _, c, e in ORDER_EXAMPLES],
                         ids=[name for name, _, _ in ORDER_EXAMPLES])
def test_automatic_choice_boundaries(case, expected):
    assert expected_algorithm(case) == expected  # the rules as written in the spec
    plan = gconv.Conv2d(np.ones(case.w_shape(), np.float32), stride=case.stride, padding=case.padding,
                        groups=case.g)
    assert plan.algorithm(case.x_shape()) == expected
    unbatched = case.x_shape()[1:]
    assert plan.algorithm(unbatched) == expected
    case.check()
