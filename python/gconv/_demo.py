"""The seed as a tour on real arrays: ``python -m gconv demo``.

One 56x56 feature map with 64 channels goes through a regular 3x3
convolution, two grouped ones, a depthwise one and a depthwise one with
depth multiplier 2; then a 7x7x512 map goes through Global Depthwise
Convolution (GDC) and global average pooling (GAP). For each case the tour
prints what the seed is about (parameters fall as 1/groups, and so do the
multiply-accumulates) next to what this machine does with it (time,
GFLOP/s, the algorithm the planner picked, the error against the float64
reference). It ends with two identities: a grouped convolution is a dense
one with a block-diagonal weight, and GDC with uniform weights is GAP.
"""

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

import gconv
from gconv import reference

BATCH, CHANNELS, HEIGHT, WIDTH = 1, 64, 56, 56
GLOBAL_CHANNELS, GLOBAL_SIZE = 512, 7
BLOCK_DIAGONAL_GROUPS = 32

# Timing: a few runs of each case, more for the tiny ones so their median
# is not one timer tick; the whole tour stays well under 30 s on 2 cores.
MIN_RUNS, MAX_RUNS, TIME_BUDGET_S = 5, 200, 0.25


@dataclass
class Row:
    """One line of the table: a case and what it measured."""

    name: str
    groups: object
    params: int
    macs: int
    output_shape: tuple
    median_ms: float
    gflops: float
    algorithm: str
    max_error: float


def _random(shape, rng, scale=1.0):
    """float32 standard-normal data of ``shape`` times ``scale``."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _kaiming_weight(shape, rng):
    """A float32 weight ``(K, C/G, R, S)`` scaled by 1/sqrt(fan-in), so outputs stay O(1)."""
    fan_in = int(np.prod(shape[1:]))
    return _random(shape, rng, 1.0 / np.sqrt(fan_in))


def median_ms(function):
    """Median wall time of ``function()`` in milliseconds, over a few runs after one warm-up.

    Runs at least ``MIN_RUNS`` times and keeps going (up to ``MAX_RUNS``)
    while the runs so far took less than ``TIME_BUDGET_S`` in total.
    """
    function()
    times = []
    while len(times) < MAX_RUNS and (len(times) < MIN_RUNS or sum(times) < TIME_BUDGET_S):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def max_abs_diff(a, b):
    """max |a - b| computed in float64."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def conv_row(name, x, weight, groups, padding):
    """Measures one convolution case through a ``gconv.Conv2d`` plan."""
    plan = gconv.Conv2d(weight, padding=padding, groups=groups)
    cost = gconv.conv2d_cost(x.shape, weight.shape, padding=padding, groups=groups)
    y = plan(x)
    ms = median_ms(lambda: plan(x))
    expected = reference.conv2d(x, weight, padding=padding, groups=groups)
    return Row(name, groups, cost.params, cost.macs, y.shape, ms, cost.flops / (ms * 1e6),
               plan.algorithm(x.shape), max_abs_diff(y, expected))


def gdc_row(x, weight):
    """Measures Global Depthwise Convolution (weight ``(C, 1, H, W)``, output ``(N, C, 1, 1)``)."""
    channels = x.shape[1]
    cost = gconv.conv2d_cost(x.shape, weight.shape, groups=channels)
    y = gconv.global_depthwise_conv2d(x, weight)
    ms = median_ms(lambda: gconv.global_depthwise_conv2d(x, weight))
    algorithm = gconv.Conv2d(weight, groups=channels).algorithm(x.shape)
    expected = reference.global_depthwise_conv2d(x, weight)
    return Row("GDC 7x7", channels, cost.params, cost.macs, y.shape, ms,
               cost.flops / (ms * 1e6), algorithm, max_abs_diff(y, expected))


def gap_row(x):
    """Measures global average pooling: no parameters, one add per input element."""
    adds = int(np.prod(x.shape))
    y = gconv.global_avg_pool2d(x)
    ms = median_ms(lambda: gconv.global_avg_pool2d(x))
    expected = reference.global_avg_pool2d(x)
    return Row("GAP 7x7", "-", 0, adds, y.shape, ms, adds / (ms * 1e6), "global_avg_pool2d",
               max_abs_diff(y, expected))


def format_table(headers, rows, right_aligned):
    """Lines of a plain-text table; column ``i`` is right-aligned when ``right_aligned[i]``."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells):
        return "  ".join(cell.rjust(w) if right else cell.ljust(w)
                         for cell, w, right in zip(cells, widths, right_aligned)).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]


def table_lines(rows):
    """The measured rows as table lines."""
    headers = ["case", "groups", "params", "MACs", "output", "median ms", "GFLOP/s",
               "algorithm", "max|err|"]
    cells = [[row.name, str(row.groups), f"{row.params:,}", f"{row.macs:,}",
              "x".join(str(d) for d in row.output_shape), f"{row.median_ms:.3f}",
              f"{row.gflops:.2f}", row.algorithm, f"{row.max_error:.1e}"] for row in rows]
    right = [False, True, True, True, True, True, True, False, True]
    return format_table(headers, cells, right)


def parameter_reduction_lines(cases):
    """One line per grouped case: its parameters as a fraction of the dense ones.

    ``cases`` holds ``(name, weight_shape, groups)``; "dense" is the
    groups=1 convolution with the same in and out channels and kernel.
    """
    lines = []
    for name, weight_shape, groups in cases:
        out_channels, _, r, s = weight_shape
        input_shape = (BATCH, CHANNELS, HEIGHT, WIDTH)
        params = gconv.conv2d_cost(input_shape, weight_shape, padding=1, groups=groups).params
        dense = gconv.conv2d_cost(input_shape, (out_channels, CHANNELS, r, s), padding=1).params
        ratio = Fraction(params, dense)
        lines.append(f"  {name:<17} groups={groups:<3} uses {str(ratio):>5} of the dense "
                     f"parameters ({params:,} of {dense:,}, {CHANNELS}->{out_channels})")
    return lines


def main():
    """Runs the tour and prints the table and the identities; returns 0."""
    rng = np.random.default_rng(0)
    info = gconv.build_info()
    print(f"gconv {info['version']}  isa={info['isa_active']}  threads={gconv.get_num_threads()}"
          f"  float32, input {BATCH}x{CHANNELS}x{HEIGHT}x{WIDTH}, 3x3 kernels, padding=1")
    print()

    x = _random((BATCH, CHANNELS, HEIGHT, WIDTH), rng)
    conv_cases = [
        ("regular", (CHANNELS, CHANNELS, 3, 3), 1),
        ("grouped G=2", (CHANNELS, CHANNELS // 2, 3, 3), 2),
        ("grouped G=32", (CHANNELS, CHANNELS // 32, 3, 3), 32),
        ("depthwise", (CHANNELS, 1, 3, 3), CHANNELS),
        ("depthwise x2", (2 * CHANNELS, 1, 3, 3), CHANNELS),
    ]
    weights = {name: _kaiming_weight(shape, rng) for name, shape, _ in conv_cases}
    rows = [conv_row(name, x, weights[name], groups, 1) for name, _, groups in conv_cases]

    global_x = _random((BATCH, GLOBAL_CHANNELS, GLOBAL_SIZE, GLOBAL_SIZE), rng)
    gdc_weight = _kaiming_weight((GLOBAL_CHANNELS, 1, GLOBAL_SIZE, GLOBAL_SIZE), rng)
    rows.append(gdc_row(global_x, gdc_weight))
    rows.append(gap_row(global_x))

    for line in table_lines(rows):
        print(line)
    print("  (MACs count padding positions; GAP's column counts adds. max|err| is against "
          "gconv.reference in float64.)")
    print()

    print("1/G parameter reduction (same channels and kernel, groups=1 is dense):")
    for line in parameter_reduction_lines(conv_cases[1:]):
        print(line)
    print()

    groups = BLOCK_DIAGONAL_GROUPS
    grouped_weight = weights["grouped G=32"]
    dense_weight = gconv.block_diagonal(grouped_weight, groups)
    difference = max_abs_diff(gconv.conv2d(x, dense_weight, padding=1),
                              gconv.conv2d(x, grouped_weight, padding=1, groups=groups))
    zeros = 1.0 - np.count_nonzero(dense_weight) / dense_weight.size
    print(f"block-diagonal equivalence: a groups={groups} weight {grouped_weight.shape} is the dense "
          f"weight {dense_weight.shape}, {zeros:.0%} zeros")
    print(f"  max |conv2d(x, block_diagonal(w, {groups})) - conv2d(x, w, groups={groups})|"
          f" = {difference:.1e}")
    print()

    area = GLOBAL_SIZE * GLOBAL_SIZE
    uniform = np.full((GLOBAL_CHANNELS, 1, GLOBAL_SIZE, GLOBAL_SIZE), 1.0 / area, np.float32)
    difference = max_abs_diff(gconv.global_depthwise_conv2d(global_x, uniform),
                              gconv.global_avg_pool2d(global_x))
    print(f"GDC with uniform weights 1/(H*W) = 1/{area} equals GAP:")
    print(f"  max |global_depthwise_conv2d(x, 1/{area}) - global_avg_pool2d(x)| = {difference:.1e}")
    return 0
