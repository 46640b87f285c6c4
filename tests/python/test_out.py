"""``out=``: written and returned (the same object), exact checks, untouched
on every failing call, and correct even when it aliases an input."""

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import assert_close, random_array

SENTINEL = 7.25


def _ops(dtype, layout):
    """(name, call(out), reference result) for every op that takes out=."""
    nchw = layout == "NCHW"
    x = random_array((2, 6, 5, 7) if nchw else (2, 5, 7, 6), dtype, 1)
    w = random_array((12, 3, 3, 3), dtype, 2)
    wd = random_array((12, 1, 3, 3), dtype, 3)
    wg = random_array((12, 1, 5, 7), dtype, 4)
    b = random_array((12,), dtype, 5)
    wt = random_array((6, 6, 3, 3), dtype, 6)  # transposed: (C_in, C_out / groups, R, S)
    plan = gconv.Conv2d(w, b, padding=1, groups=2, layout=layout, activation="relu")
    return [
        ("conv2d", lambda out: gconv.conv2d(x, w, b, padding=1, groups=2, layout=layout, activation="relu", out=out),
         reference.conv2d(x, w, b, padding=1, groups=2, layout=layout, activation="relu")),
        ("depthwise_conv2d", lambda out: gconv.depthwise_conv2d(x, wd, b, stride=2, layout=layout, out=out),
         reference.depthwise_conv2d(x, wd, b, stride=2, layout=layout)),
        ("global_depthwise_conv2d", lambda out: gconv.global_depthwise_conv2d(x, wg, b, layout=layout, out=out),
         reference.global_depthwise_conv2d(x, wg, b, layout=layout)),
        ("global_avg_pool2d", lambda out: gconv.global_avg_pool2d(x, layout=layout, out=out),
         reference.global_avg_pool2d(x, layout=layout)),
        ("channel_shuffle", lambda out: gconv.channel_shuffle(x, 3, layout=layout, out=out),
         reference.channel_shuffle(x, 3, layout=layout)),
        ("Conv2d", lambda out: plan(x, out=out),
         reference.conv2d(x, w, b, padding=1, groups=2, layout=layout, activation="relu")),
        ("conv_transpose2d", lambda out: gconv.conv_transpose2d(x, wt, b, stride=2, padding=1,
                                                                output_padding=1, groups=2,
                                                                layout=layout, out=out),
         reference.conv_transpose2d(x, wt, b, stride=2, padding=1, output_padding=1, groups=2,
                                    layout=layout)),
    ]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", range(7), ids=[n for n, _, _ in _ops(np.float32, "NCHW")])
def test_out_is_written_and_returned_as_the_same_object(op, dtype, layout):
    name, call, ref = _ops(dtype, layout)[op]
    out = np.full(ref.shape, SENTINEL, dtype)
    result = call(out)
    assert result is out, name
    assert_close(out, ref, dtype, f"{name} out= layout={layout} dtype={dtype}")


@pytest.mark.parametrize("op", range(7), ids=[n for n, _, _ in _ops(np.float32, "NCHW")])
def test_failing_out_leaves_out_untouched(op):
    name, call, ref = _ops(np.float32, "NCHW")[op]
    bad = {
        "wrong_shape": np.full(ref.shape[:-1] + (ref.shape[-1] + 1,), SENTINEL, np.float32),
        "wrong_dtype": np.full(ref.shape, SENTINEL, np.float64),
        "fortran": np.full(ref.shape, SENTINEL, np.float32, order="F"),
    }
    base = np.full(ref.shape[:-1] + (2 * ref.shape[-1],), SENTINEL, np.float32)
    bad["strided_view"] = base[..., ::2]
    for kind, out in bad.items():
        with pytest.raises((ValueError, TypeError)):
            call(out)
        assert np.all(out == SENTINEL), f"{name}: out modified by a failing call ({kind})"
    assert np.all(base == SENTINEL), f"{name}: memory behind a strided out was modified"


def _failing_conv2d_calls():
    x = random_array((1, 4, 6, 6), np.float32, 1)
    w = random_array((8, 2, 3, 3), np.float32, 2)
    return {
        "bad_stride": lambda out: gconv.conv2d(x, w, groups=2, stride=0, out=out),
        "bad_stride_type": lambda out: gconv.conv2d(x, w, groups=2, stride=1.0, out=out),
        "bad_groups": lambda out: gconv.conv2d(x, w, groups=3, out=out),
        "bad_bias": lambda out: gconv.conv2d(x, w, np.zeros(7, np.float32), groups=2, out=out),
        "bad_bias_dtype": lambda out: gconv.conv2d(x, w, np.zeros(8), groups=2, out=out),
        "bad_activation": lambda out: gconv.conv2d(x, w, groups=2, activation="tanh", out=out),
        "bad_layout": lambda out: gconv.conv2d(x, w, groups=2, layout="CHWN", out=out),
        "bad_padding": lambda out: gconv.conv2d(x, w, groups=2, padding="full", out=out),
        "rejected_algorithm": lambda out: gconv.conv2d(x, w, groups=2, force_algorithm="gemm_1x1", out=out),
        "unknown_algorithm": lambda out: gconv.conv2d(x, w, groups=2, force_algorithm="fft", out=out),
        "int_input": lambda out: gconv.conv2d(x.astype(np.int32), w, groups=2, out=out),
        "mixed_dtypes": lambda out: gconv.conv2d(x.astype(np.float64), w, groups=2, out=out),
    }


@pytest.mark.parametrize("kind", list(_failing_conv2d_calls()))
def test_failing_call_leaves_a_well_formed_out_untouched(kind):
    out = np.full((1, 8, 4, 4), SENTINEL, np.float32)  # the shape the valid call would give
    with pytest.raises((ValueError, TypeError)):
        _failing_conv2d_calls()[kind](out)
    assert np.all(out == SENTINEL), kind


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unbatched_out(dtype):
    x = random_array((4, 6, 6), dtype, 1)
    w = random_array((4, 2, 3, 3), dtype, 2)
    out = np.empty((4, 4, 4), dtype)
    assert gconv.conv2d(x, w, groups=2, out=out) is out
    assert_close(out, reference.conv2d(x, w, groups=2), dtype, "unbatched out=")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_out_aliasing_the_input_still_gives_the_right_result(layout):
    # 1x1 conv keeps the shape, so the input itself is a valid out.
    x = random_array((2, 8, 5, 5) if layout == "NCHW" else (2, 5, 5, 8), np.float64, 1)
    w = random_array((8, 4, 1, 1), np.float64, 2)
    ref = reference.conv2d(x, w, groups=2, layout=layout)
    assert gconv.conv2d(x, w, groups=2, layout=layout, out=x) is x
    assert_close(x, ref, np.float64, f"out aliases x, layout={layout}")


def test_out_aliasing_the_input_of_a_3x3_conv_still_gives_the_right_result():
    x = random_array((1, 6, 7, 7), np.float32, 1)
    w = random_array((6, 6, 3, 3), np.float32, 2)
    ref = reference.conv2d(x, w, padding=1)
    gconv.conv2d(x, w, padding=1, out=x)
    assert_close(x, ref, np.float32, "out aliases x, 3x3 padding 1")


def test_channel_shuffle_in_place():
    x = random_array((2, 12, 3, 3), np.float32, 1)
    ref = reference.channel_shuffle(x, 4)
    assert gconv.channel_shuffle(x, 4, out=x) is x
    np.testing.assert_array_equal(x, ref.astype(np.float32))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride", [1, 2])
def test_transposed_out_aliasing_the_input_still_gives_the_right_result(layout, stride,
                                                                        monkeypatch):
    # Stride 1, 3x3, padding 1 keeps the shape; stride 2 writes into the
    # memory of an input four times smaller, through a reshaped view, one
    # image at a time (so image 0's result lands on images 1-3's input
    # before they are read, unless out is written through a copy).
    monkeypatch.setattr(gconv._grad, "_PHASE_BUFFER_BYTES", 1)
    x = random_array((3, 4, 6, 6) if layout == "NCHW" else (3, 6, 6, 4), np.float64, 1)
    w = random_array((4, 2, 3, 3), np.float64, 2)
    args = dict(stride=stride, padding=1, output_padding=stride - 1, groups=2, layout=layout)
    ref = reference.conv_transpose2d(x, w, **args)
    if stride == 1:
        out = x
    else:
        memory = np.empty(ref.size, np.float64)
        memory[:x.size] = x.ravel()
        x = memory[:x.size].reshape(x.shape)
        out = memory.reshape(ref.shape)
    assert gconv.conv_transpose2d(x, w, out=out, **args) is out
    assert_close(out, ref, np.float64, f"transposed out aliases x, layout={layout}")


def test_out_aliasing_the_weight_still_gives_the_right_result():
    x = random_array((1, 2, 1, 1), np.float32, 1)
    w = random_array((2, 1, 1, 1), np.float32, 2)
    out = w.reshape(1, 2, 1, 1)  # the weight's own memory
    ref = reference.conv2d(x, w, groups=2)
    gconv.conv2d(x, w, groups=2, out=out)
    assert_close(out, ref, np.float32, "out aliases weight")
