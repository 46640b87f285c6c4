"""Limits: huge sizes raise before anything is allocated or written, ``out=``
survives every failure, NaN/Inf propagate through every op, empty batches
return empty results.

Huge inputs cost no memory: they are zero-stride views of one element
(``as_strided``), as large as NumPy allows (below 2**63 bytes). Sizes that
could be allocated are avoided on purpose: every "cannot allocate" case asks
for more than a 47-bit address space holds, so it fails on any machine
whatever its overcommit policy. (test_errors.py covers the conv2d-only
overflow cases: padding 2**62, a broadcast input of 2**60 elements, a
result of 2**50 elements; test_nonfinite.py NaN/Inf through conv2d's
algorithms and global_avg_pool2d.)
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import gconv
from gconv import reference
from conftest import assert_close, random_array

F32 = np.float32
SENTINEL = -3.5
HUGE = 2**62


def fake(shape, dtype=F32):
    """A read-only array of ``shape`` backed by a single element."""
    return as_strided(np.ones(1, dtype), shape=shape, strides=(0,) * len(shape), writeable=False)


def _status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _reset_peak_rss():
    """Resets VmHWM (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _raises_without_allocating(call, expected):
    """``call()`` raises one of ``expected``, and the process's peak resident
    memory grows by less than 64 MiB meanwhile: nothing big was allocated
    and written (an allocation that fails is fine: that is the MemoryError)."""
    measured = sys.platform.startswith("linux") and _reset_peak_rss()
    before = _status_kib("VmRSS") if measured else 0
    with pytest.raises(expected) as excinfo:
        call()
    if measured:
        grown = _status_kib("VmHWM") - before
        assert grown < 64 << 10, f"peak memory grew by {grown} KiB before raising {excinfo.value!r}"
    return excinfo


def _w(k=1, cg=1, r=1, s=1, dtype=F32):
    return np.ones((k, cg, r, s), dtype)


# Arguments whose sizes overflow int64 somewhere between the user's numbers
# and the kernels: the padded size, the dilated kernel, the element counts.
OVERFLOWS = {
    "conv2d_padded_height": lambda: gconv.conv2d(np.ones((1, 1, 2, 2), F32), _w(s=2), padding=HUGE,
                                                 dilation=HUGE, stride=HUGE),
    "conv2d_padded_width_pairs": lambda: gconv.conv2d(np.ones((1, 1, 2, 2), F32), _w(),
                                                      padding=((0, 0), (HUGE, HUGE)), stride=(1, 2**63 - 1)),
    "conv2d_dilated_kernel_and_padding": lambda: gconv.conv2d(np.ones((1, 1, 2, 2), F32), _w(r=3),
                                                              padding=HUGE, dilation=2**63 - 1, stride=HUGE),
    "depthwise_padded_size": lambda: gconv.depthwise_conv2d(np.ones((1, 3, 2, 2), F32), _w(k=3, r=2, s=2),
                                                            padding=HUGE, dilation=HUGE, stride=HUGE),
    "depthwise_input_elements": lambda: gconv.depthwise_conv2d(fake((2**28, 2**30, 4, 1)), _w(), layout="NHWC"),
    "plan_call_padded_size": lambda: gconv.Conv2d(_w(s=2), padding=HUGE, dilation=HUGE, stride=HUGE)(
        np.ones((1, 1, 2, 2), F32)),
    "plan_call_output_elements": lambda: gconv.Conv2d(_w(k=16))(fake((2**60, 1, 1, 1))),
    "plan_algorithm_input_elements": lambda: gconv.Conv2d(_w()).algorithm((2**62, 1, 2, 2)),
    "plan_algorithm_padded_size": lambda: gconv.Conv2d(_w(), padding=HUGE, stride=HUGE).algorithm((1, 1, 2, 2)),
    "gdc_output_elements": lambda: gconv.global_depthwise_conv2d(fake((2**58, 1, 1, 1)), _w(k=64)),
    "cost_input_elements": lambda: gconv.conv2d_cost((2**40, 2**20, 2**10, 1), (1, 2**20, 1, 1)),
    "cost_output_elements": lambda: gconv.conv2d_cost((1, 1, 1, 1), (2**62, 1, 1, 1), padding=2**20),
}


@pytest.mark.parametrize("name", list(OVERFLOWS))
def test_sizes_that_overflow_int64_raise_value_error_before_allocating(name):
    _raises_without_allocating(OVERFLOWS[name], ValueError)


def test_costs_beyond_int64_are_exact_not_wrapped():
    # No array is involved, so the counts are Python ints: exact, never wrapped.
    cost = gconv.conv2d_cost((1, 2**40, 1, 1), (2**40, 2**40, 1, 1), bias=True)
    assert cost.params == 2**80 + 2**40 and cost.macs == 2**80 and cost.flops == 2**81
    assert cost.min_bytes == 4 * (2**40 + cost.params + 2**40)
    # A padded height of 2**63 + 2 (which conv2d cannot run) still has an exact cost.
    cost = gconv.conv2d_cost((1, 1, 2, 2), (1, 1, 2, 2), padding=HUGE, dilation=HUGE, stride=HUGE)
    assert cost.output_shape == (1, 1, 2, 2) and cost.macs == 16


# (name, call(out), shape of the (small) result): the input or weight is too
# big to copy into a kernel-ready array (2**46 elements or more), the result
# is tiny, so out= can be given and must come back untouched.
UNALLOCATABLE = {
    "conv2d_input": (lambda out: gconv.conv2d(fake((1, 1, 2**23, 2**23)), _w(), stride=2**23, out=out),
                     (1, 1, 1, 1)),
    "conv2d_weight": (lambda out: gconv.conv2d(fake((1, 2**24, 2**12, 2**12)), fake((1, 2**24, 2**12, 2**12)),
                                               out=out), (1, 1, 1, 1)),
    "depthwise_input": (lambda out: gconv.depthwise_conv2d(fake((1, 2**20, 2**13, 2**13)), _w(k=2**20),
                                                           stride=2**13, out=out), (1, 2**20, 1, 1)),
    "gdc_input_and_weight": (lambda out: gconv.global_depthwise_conv2d(
        fake((2, 2**23, 2**23, 1)), fake((1, 1, 2**23, 2**23)), layout="NHWC", out=out), (2, 1, 1, 1)),
    "gap_input": (lambda out: gconv.global_avg_pool2d(fake((1, 3, 2**23, 2**23)), out=out), (1, 3, 1, 1)),
    "plan_input": (lambda out: gconv.Conv2d(_w(k=2), stride=2**23)(fake((2, 1, 2**23, 2**23)), out=out),
                   (2, 2, 1, 1)),
}


@pytest.mark.parametrize("name", list(UNALLOCATABLE))
def test_inputs_too_big_to_copy_raise_memory_error_and_leave_out_untouched(name):
    call, shape = UNALLOCATABLE[name]
    if np.prod(shape) > 2**24:
        pytest.fail(f"{name}: the result {shape} should stay small")
    out = np.full(shape, SENTINEL, F32)
    _raises_without_allocating(lambda: call(out), (MemoryError, ValueError))
    assert np.all(out == SENTINEL), f"{name}: out was written by a failing call"


@pytest.mark.parametrize("call", [
    lambda: gconv.conv2d(fake((2**46, 1, 1, 1)), _w()),
    lambda: gconv.depthwise_conv2d(fake((2**44, 4, 1, 1)), _w(k=4)),
    lambda: gconv.global_avg_pool2d(fake((2**45, 4, 1, 1))),
    lambda: gconv.channel_shuffle(fake((2**44, 4, 2, 2)), 2),
    lambda: gconv.block_diagonal(fake((2**31, 1, 1, 1)), 2**31),
], ids=["conv2d_batch", "depthwise_batch", "gap_batch", "shuffle_batch", "block_diagonal_groups"])
def test_results_too_big_to_allocate_raise(call):
    _raises_without_allocating(call, (MemoryError, ValueError))


def test_huge_thread_count_is_clamped_not_wrapped(restore_threads):
    gconv.set_num_threads(2**62)
    assert 1 <= gconv.get_num_threads() <= 1024


# --------------------------------------------------------------------------- empty batches

@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_empty_batch_gives_empty_results_for_every_op(layout):
    def data(c, h, w):
        return np.zeros((0, c, h, w) if layout == "NCHW" else (0, h, w, c), F32)

    def channels_last(shape):
        return shape if layout == "NCHW" else (shape[0],) + shape[2:] + (shape[1],)

    plan = gconv.Conv2d(_w(k=6, cg=2, r=3, s=3), groups=2, padding=1, layout=layout)
    calls = {
        "depthwise_conv2d": (lambda out: gconv.depthwise_conv2d(data(4, 5, 6), _w(k=8, r=3, s=3), layout=layout,
                                                                out=out), (0, 8, 3, 4)),
        "global_depthwise_conv2d": (lambda out: gconv.global_depthwise_conv2d(data(4, 5, 6), _w(k=4, r=5, s=6),
                                                                              layout=layout, out=out), (0, 4, 1, 1)),
        "global_avg_pool2d": (lambda out: gconv.global_avg_pool2d(data(4, 5, 6), layout=layout, out=out),
                              (0, 4, 1, 1)),
        "channel_shuffle": (lambda out: gconv.channel_shuffle(data(4, 5, 6), 2, layout=layout, out=out),
                            (0, 4, 5, 6)),
        "Conv2d": (lambda out: plan(data(4, 5, 6), out=out), (0, 6, 5, 6)),
    }
    for name, (call, shape) in calls.items():
        shape = channels_last(shape)
        got = call(None)
        assert got.shape == shape and got.dtype == F32, f"{name}: {got.shape} {got.dtype}"
        out = np.empty(shape, F32)
        assert call(out) is out, name


def test_empty_batch_of_huge_images_returns_at_once():
    x = fake((0, 1, 2**30, 2**20))
    assert gconv.conv2d(x, _w(k=3)).shape == (0, 3, 2**30, 2**20)
    assert gconv.global_avg_pool2d(x).shape == (0, 1, 1, 1)


# --------------------------------------------------------------------------- NaN and Inf

def _plant(x, layout, values):
    """``values`` at fixed (channel, row, col) spots of image 0."""
    c = x.shape[1] if layout == "NCHW" else x.shape[-1]
    h, w = (x.shape[2:] if layout == "NCHW" else x.shape[1:3])
    for value, (ch, row, col) in zip(values, [(0, 0, 0), (c - 1, h - 1, w // 2), (c // 2, h // 2, w - 1)]):
        x[(0, ch, row, col) if layout == "NCHW" else (0, row, col, ch)] = value
    return x


NONFINITE = [(np.nan,), (np.inf,), (-np.inf, np.inf), (np.inf, np.nan, -np.inf)]


@pytest.mark.parametrize("values", NONFINITE, ids=["nan", "inf", "inf_minus_inf", "mixed"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nonfinite_inputs_propagate_through_depthwise_gdc_and_plans(values, layout, dtype):
    shape = (2, 9, 6, 7) if layout == "NCHW" else (2, 6, 7, 9)
    x = _plant(random_array(shape, dtype, 1), layout, values)
    wd = np.abs(random_array((18, 1, 3, 3), dtype, 2))
    wg = np.abs(random_array((9, 1, 6, 7), dtype, 3))
    wc = np.abs(random_array((6, 3, 3, 3), dtype, 4))
    b = random_array((18,), dtype, 5)
    plan = gconv.Conv2d(wc, b[:6], padding=1, groups=3, layout=layout, activation="relu6")
    checks = {
        "depthwise_conv2d": (gconv.depthwise_conv2d(x, wd, b, padding=1, layout=layout),
                             reference.depthwise_conv2d(x, wd, b, padding=1, layout=layout)),
        "global_depthwise_conv2d": (gconv.global_depthwise_conv2d(x, wg, layout=layout),
                                    reference.global_depthwise_conv2d(x, wg, layout=layout)),
        "Conv2d": (plan(x), reference.conv2d(x, wc, b[:6], padding=1, groups=3, layout=layout,
                                            activation="relu6")),
    }
    for name, (got, ref) in checks.items():
        assert name == "Conv2d" or not np.isfinite(ref).all(), name
        assert_close(got, ref, dtype, f"{name} values={values} layout={layout} dtype={dtype}")


@pytest.mark.parametrize("algorithm", gconv.ALGORITHMS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_inf_times_a_zero_weight_is_nan_as_in_the_reference(algorithm, layout):
    # The reference is a plain sum of products: Inf * 0 is NaN, so a kernel
    # that skips zero weights (or zero-pads by skipping taps on real data)
    # would differ here.
    c, k, r = (4, 4, 5) if algorithm == "global_depthwise" else (4, 8, 1 if algorithm == "gemm_1x1" else 3)
    g = c if algorithm in ("depthwise", "global_depthwise") else 1
    shape = (1, c, r, r) if layout == "NCHW" else (1, r, r, c)
    x = _plant(np.ones(shape, F32), layout, (np.inf,))
    w = np.ones((k, c // g, r, r), F32)
    w[:, :, 0, 0] = 0.0  # the tap that meets the Inf at output (0, 0)
    ref = reference.conv2d(x, w, groups=g, layout=layout)
    got = gconv.conv2d(x, w, groups=g, layout=layout, force_algorithm=algorithm)
    assert np.isnan(ref).any()
    assert_close(got, ref, np.float32, f"inf*0 algorithm={algorithm} layout={layout}")


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_global_avg_pool_of_plus_and_minus_inf_is_nan(layout):
    x = np.zeros((1, 3, 2, 2), np.float64)
    x[0, 1, 0, 0], x[0, 1, 1, 1], x[0, 2, 0, 1] = np.inf, -np.inf, -np.inf
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    assert_close(gconv.global_avg_pool2d(x, layout=layout), reference.global_avg_pool2d(x, layout=layout),
                 np.float64, f"gap inf-inf {layout}")


# --------------------------------------------------------------------------- huge strides

_HUGE_STRIDE_SCRIPT = textwrap.dedent("""
    import resource, sys, numpy as np, gconv
    algorithm, layout = sys.argv[1], sys.argv[2]
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    w = np.ones((1, 1, 1, 1), np.float32)
    gconv.conv2d(x, w)  # start the thread pool before capping the address space
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) for line in status if line.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (512 << 20), resource.RLIM_INFINITY))
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    # Rows 2**26 + 0/1 of the padded input are the image; the stride lands on row 2**26 once.
    y = gconv.conv2d(x, w, padding=(2**26, 0), stride=(2**21, 1), layout=layout, force_algorithm=algorithm)
    y = y if layout == "NCHW" else y.transpose(0, 3, 1, 2)
    expected = np.zeros((1, 1, 65, 2), np.float32)
    expected[0, 0, 32] = (1, 2)
    assert np.array_equal(y, expected), y
    print("ok")
""")


@pytest.mark.parametrize("algorithm,layout", [
    ("depthwise", "NCHW"),
    ("grouped_direct", "NCHW"),
    ("grouped_direct", "NHWC"),
    ("depthwise", "NHWC"),
    ("im2col_gemm", "NCHW"),
])
def test_huge_stride_over_huge_padding_costs_no_more_than_its_tiny_output(algorithm, layout):
    # 65 x 2 outputs from a 2 x 2 image: must not need gigabytes or seconds.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(gconv.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    try:
        result = subprocess.run([sys.executable, "-c", _HUGE_STRIDE_SCRIPT, algorithm, layout], env=env,
                                capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"conv2d {algorithm} {layout} padding=(2**26, 0) stride=(2**21, 1) ran for more than 20 s")
    assert result.returncode == 0 and result.stdout.strip() == "ok", \
        f"{algorithm} {layout}: rc={result.returncode} {result.stdout[-400:]} {result.stderr[-800:]}"


@pytest.mark.parametrize("algorithm", ["depthwise", "grouped_direct", "im2col_gemm"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_huge_strides_on_both_axes_cost_only_their_output(algorithm, layout):
    # Strides of 2**23 / 2**29 over padding of 2**24 / 2**30: a 5x5 output that
    # touches the 2x2 image once. Kernels that keep every padded row or every
    # column phase would need petabytes.
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    w = np.ones((1, 1, 1, 1), np.float32)
    xin = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = gconv.conv2d(xin, w, padding=(2**24, 2**30), stride=(2**23, 2**29), layout=layout,
                     force_algorithm=algorithm)
    y = y if layout == "NCHW" else y.transpose(0, 3, 1, 2)
    expected = np.zeros((1, 1, 5, 5), np.float32)
    expected[0, 0, 2, 2] = 1.0  # padded row 2**24 and column 2**30: the image's (0, 0)
    assert np.array_equal(y, expected), y
