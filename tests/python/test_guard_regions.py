"""Guard regions: no kernel writes (or reads) outside its arrays.

Every output is a C-contiguous slice in the middle of a larger NaN-filled
buffer; after each call the margins must still be NaN, so a store past
either end of the output is caught, and the output itself starts as NaN, so
an element the kernel forgot to write is caught by the comparison with the
reference. Inputs, weights and biases sit in NaN-filled buffers too: a load
past their ends that reaches a result shows up as a NaN, and the inputs must
come back unchanged.

Run for every algorithm (forced), layout, dtype and instruction-set family
the CPU supports, with channel counts and widths of 1..17, 31 and 33, so
that no size is a multiple of every vector width or tile and each tail
path runs. The slices start at element offsets that are not multiples of
the vector width, so no kernel may assume aligned output.
"""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import ALL_ISAS, ConvCase, accepts, assert_close

TAIL_SIZES = tuple(range(1, 18)) + (31, 33)
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float64")
MARGIN = 80  # elements on each side: more than any vector width or register tile


def _size(i, stride):
    """The i-th entry of a walk through TAIL_SIZES with a step co-prime to its length."""
    return TAIL_SIZES[(i * stride) % len(TAIL_SIZES)]


def _cases(algorithm, layout, dtype):
    """One case per TAIL_SIZES width; channels walk TAIL_SIZES at other steps."""
    cases = []
    for i, width in enumerate(TAIL_SIZES):
        # Per-group channel counts walk TAIL_SIZES; 1, 2 or 3 groups.
        g = (1, 2, 3)[i % 3]
        c, k = g * _size(i, 7), g * _size(i, 11)
        common = dict(layout=layout, dtype=dtype, seed=7000 + i, n=1 + i % 2,
                      bias=i % 2 == 0, activation=(None, "relu", "relu6")[i % 3])
        if algorithm == "gemm_1x1":
            case = ConvCase(c=c, g=g, k=k, h=1 + i % 3, w=width, kernel=(1, 1), **common)
        elif algorithm in ("im2col_gemm", "grouped_direct"):
            kernel = ((3, 3), (1, 3), (5, 5), (3, 1))[i % 4]
            case = ConvCase(c=c, g=g, k=k, h=3 + i % 4, w=width, kernel=kernel, stride=1 + i % 2,
                            padding=(kernel[0] // 2, kernel[1] // 2), **common)
        elif algorithm == "depthwise":
            c = _size(i, 7)
            kernel = ((3, 3), (5, 5), (7, 7), (1, 1), (3, 5))[i % 5]
            case = ConvCase(c=c, g=c, k=c * (1 + i % 3), h=4 + i % 5, w=width, kernel=kernel,
                            stride=1 + (i // 5) % 2, padding=(kernel[0] // 2, kernel[1] // 2), **common)
        else:  # global_depthwise: the kernel covers the whole (unpadded) input
            c, h = _size(i, 7), 1 + i % 7
            case = ConvCase(c=c, g=c, k=c * (1 + i % 2), h=h, w=width, kernel=(h, width),
                            **{**common, "activation": None})
        assert case.valid() and accepts(case, algorithm), case.descriptor()
        cases.append(case)
    return cases


def _guarded(values, offset):
    """(buffer, view): ``values`` copied into the middle of a NaN-filled buffer,
    ``offset`` elements after MARGIN (so the view's start is not vector-aligned)."""
    size = values.size
    buffer = np.full(MARGIN + offset + size + MARGIN, np.nan, values.dtype)
    view = buffer[MARGIN + offset:MARGIN + offset + size].reshape(values.shape)
    view[...] = values
    assert view.flags.c_contiguous and view.flags.aligned
    return buffer, view


def _assert_margins_nan(buffer, view, what, descriptor):
    start = (view.__array_interface__["data"][0] - buffer.__array_interface__["data"][0]) // buffer.itemsize
    before, after = buffer[:start], buffer[start + view.size:]
    for side, margin in (("before", before), ("after", after)):
        if not np.isnan(margin).all():
            where = np.flatnonzero(~np.isnan(margin))
            distance = (start - where[-1]) if side == "before" else (where[0] + 1)
            raise AssertionError(f"{descriptor}: {len(where)} element(s) written {side} {what}, "
                                 f"the nearest {distance} element(s) away")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("algorithm", gconv.ALGORITHMS)
@pytest.mark.parametrize("family", ALL_ISAS)
def test_kernels_write_only_inside_out_and_read_only_inside_inputs(family, algorithm, layout, dtype,
                                                                    restore_isa):
    if family not in gconv.build_info()["isa_supported"]:
        pytest.skip(f"this CPU cannot run {family}")
    gconv._set_max_isa(family)
    for i, case in enumerate(_cases(algorithm, layout, dtype)):
        descriptor = case.descriptor(force_algorithm=algorithm, family=family, offset=i % 7)
        x, w, b = case.arrays()
        ref = case.reference(x, w, b)
        x_buffer, x_view = _guarded(x, i % 5)
        w_buffer, w_view = _guarded(w, i % 3)
        b_view = None if b is None else _guarded(b, 1)[1]
        out_buffer, out = _guarded(np.full(ref.shape, np.nan, dtype), i % 7)
        inputs_before = x_buffer.tobytes(), w_buffer.tobytes()
        result = gconv.conv2d(x_view, w_view, b_view, **case.kwargs(), out=out, force_algorithm=algorithm)
        assert result is out, descriptor
        _assert_margins_nan(out_buffer, out, "out", descriptor)
        assert (x_buffer.tobytes(), w_buffer.tobytes()) == inputs_before, f"{descriptor}: input modified"
        assert_close(out, ref, dtype, descriptor)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("family", ALL_ISAS)
def test_global_average_pooling_writes_only_inside_out(family, layout, dtype, restore_isa):
    if family not in gconv.build_info()["isa_supported"]:
        pytest.skip(f"this CPU cannot run {family}")
    gconv._set_max_isa(family)
    for i, c in enumerate(TAIL_SIZES):
        n, h, w = 1 + i % 3, 1 + i % 4, _size(i, 5)
        shape = (n, c, h, w) if layout == "NCHW" else (n, h, w, c)
        descriptor = f"global_avg_pool2d shape={shape} layout={layout} dtype={dtype} family={family}"
        x = np.random.default_rng(i).standard_normal(shape).astype(dtype)
        ref = reference.global_avg_pool2d(x, layout=layout)
        x_buffer, x_view = _guarded(x, i % 5)
        out_buffer, out = _guarded(np.full(ref.shape, np.nan, dtype), i % 7)
        before = x_buffer.tobytes()
        assert gconv.global_avg_pool2d(x_view, layout=layout, out=out) is out
        _assert_margins_nan(out_buffer, out, "out", descriptor)
        assert x_buffer.tobytes() == before, f"{descriptor}: input modified"
        assert_close(out, ref, dtype, descriptor)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_channel_shuffle_writes_only_inside_out(layout):
    for i, c in enumerate((2, 6, 12, 33, 34)):
        groups = [d for d in range(2, c + 1) if c % d == 0][0]
        shape = (2, c, 3, _size(i, 5)) if layout == "NCHW" else (2, 3, _size(i, 5), c)
        x = np.random.default_rng(i).standard_normal(shape).astype(np.float32)
        out_buffer, out = _guarded(np.full(shape, np.nan, np.float32), i)
        gconv.channel_shuffle(x, groups, layout=layout, out=out)
        _assert_margins_nan(out_buffer, out, "out", f"channel_shuffle shape={shape} groups={groups}")
        np.testing.assert_array_equal(out, reference.channel_shuffle(x, groups, layout=layout))
