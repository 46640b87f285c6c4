"""Every bad input of API.md raises the documented exception type, with a
message that names the parameter and the values seen."""

import numpy as np
import pytest

import gconv
from conftest import message_names

F32 = np.float32


def x4(c=4, h=5, w=5, dtype=F32, n=1):
    return np.ones((n, c, h, w), dtype)


def w4(k=4, cg=4, r=3, s=3, dtype=F32):
    return np.ones((k, cg, r, s), dtype)


# (id, call, exception, regexes the message must match)
TYPE_ERRORS = [
    ("x_int32", lambda: gconv.conv2d(x4(dtype=np.int32), w4()), ["int32"]),
    ("x_int64_both", lambda: gconv.conv2d(x4(dtype=np.int64), w4(dtype=np.int64)), ["int64"]),
    ("x_bool", lambda: gconv.conv2d(x4(dtype=bool), w4()), ["bool"]),
    ("x_float16", lambda: gconv.conv2d(x4(dtype=np.float16), w4(dtype=np.float16)), ["float16"]),
    ("x_complex", lambda: gconv.conv2d(x4(dtype=np.complex64), w4()), ["complex64"]),
    ("x_object", lambda: gconv.conv2d(x4().astype(object), w4()), ["object"]),
    ("x_string", lambda: gconv.conv2d(np.full((1, 4, 5, 5), "a"), w4()), [r"<U1|str"]),
    ("weight_int", lambda: gconv.conv2d(x4(), w4(dtype=np.int16)), ["int16"]),
    ("mixed_f32_f64", lambda: gconv.conv2d(x4(), w4(dtype=np.float64)), ["float32", "float64"]),
    ("bias_f64_with_f32", lambda: gconv.conv2d(x4(), w4(), np.zeros(4)), ["float32", "float64"]),
    ("bias_int", lambda: gconv.conv2d(x4(), w4(), np.zeros(4, np.int32)), ["int32"]),
    ("groups_float", lambda: gconv.conv2d(x4(), w4(cg=2), groups=2.0), ["groups"]),
    ("groups_bool", lambda: gconv.conv2d(x4(), w4(), groups=True), ["groups"]),
    ("groups_str", lambda: gconv.conv2d(x4(), w4(cg=2), groups="2"), ["groups"]),
    ("stride_float", lambda: gconv.conv2d(x4(), w4(), stride=1.0), ["stride"]),
    ("stride_tuple_float", lambda: gconv.conv2d(x4(), w4(), stride=(1, 2.0)), ["stride"]),
    ("stride_bool", lambda: gconv.conv2d(x4(), w4(), stride=True), ["stride"]),
    ("stride_str", lambda: gconv.conv2d(x4(), w4(), stride="1"), ["stride"]),
    ("stride_none", lambda: gconv.conv2d(x4(), w4(), stride=None), ["stride"]),
    ("dilation_float", lambda: gconv.conv2d(x4(), w4(), dilation=2.5), ["dilation"]),
    ("dilation_bool", lambda: gconv.conv2d(x4(), w4(), dilation=(True, 1)), ["dilation"]),
    ("padding_float", lambda: gconv.conv2d(x4(), w4(), padding=1.0), ["padding"]),
    ("padding_pair_float", lambda: gconv.conv2d(x4(), w4(), padding=((1, 0.5), (0, 0))), ["padding"]),
    ("padding_bool", lambda: gconv.conv2d(x4(), w4(), padding=False), ["padding"]),
    ("padding_none", lambda: gconv.conv2d(x4(), w4(), padding=None), ["padding"]),
    ("layout_int", lambda: gconv.conv2d(x4(), w4(), layout=1), ["layout"]),
    ("activation_int", lambda: gconv.conv2d(x4(), w4(), activation=1), ["activation"]),
    ("out_wrong_dtype", lambda: gconv.conv2d(x4(), w4(), out=np.zeros((1, 4, 3, 3))), ["out", "float64|float32"]),
    ("out_list", lambda: gconv.conv2d(x4(), w4(), out=[[0.0]]), ["out"]),
    ("depthwise_int", lambda: gconv.depthwise_conv2d(x4(dtype=np.int32), np.ones((4, 1, 3, 3), np.int32)), ["int32"]),
    ("gdc_mixed", lambda: gconv.global_depthwise_conv2d(x4(), np.ones((4, 1, 5, 5))), ["float32", "float64"]),
    ("gap_int", lambda: gconv.global_avg_pool2d(x4(dtype=np.int8)), ["int8"]),
    ("gap_float16", lambda: gconv.global_avg_pool2d(x4(dtype=np.float16)), ["float16"]),
    ("shuffle_int", lambda: gconv.channel_shuffle(x4(dtype=np.uint8), 2), ["uint8"]),
    ("shuffle_groups_float", lambda: gconv.channel_shuffle(x4(), 2.0), ["groups"]),
    ("block_diagonal_groups_float", lambda: gconv.block_diagonal(w4(cg=2), 2.0), ["groups"]),
    ("plan_weight_int", lambda: gconv.Conv2d(np.ones((4, 4, 3, 3), np.int32)), ["int32"]),
    ("plan_call_mixed", lambda: gconv.Conv2d(w4())(x4(dtype=np.float64)), ["float32", "float64"]),
    ("threads_float", lambda: gconv.set_num_threads(2.0), [r"thread|\bn\b"]),
    ("threads_bool", lambda: gconv.set_num_threads(True), [r"thread|\bn\b"]),
]

VALUE_ERRORS = [
    ("x_2d", lambda: gconv.conv2d(np.ones((4, 5), F32), w4()), [r"\b2\b|\(4, 5\)|\[4, 5\]"]),
    ("x_5d", lambda: gconv.conv2d(np.ones((1, 1, 4, 5, 5), F32), w4()), [r"\b5\b"]),
    ("weight_3d", lambda: gconv.conv2d(x4(), np.ones((4, 4, 3), F32)), ["weight"]),
    ("channels_mismatch", lambda: gconv.conv2d(x4(c=6), w4(k=8, cg=2), groups=2), [r"\b6\b", r"\b4\b", "channel"]),
    ("channels_not_divisible_by_groups", lambda: gconv.conv2d(x4(c=6), w4(k=8, cg=2), groups=4),
     [r"\b6\b", r"\b4\b", "groups"]),
    ("out_channels_not_divisible_by_groups", lambda: gconv.conv2d(x4(c=8), w4(k=6, cg=2), groups=4),
     [r"\b6\b", r"\b4\b", "groups"]),
    ("groups_zero", lambda: gconv.conv2d(x4(), w4(), groups=0), ["groups"]),
    ("groups_negative", lambda: gconv.conv2d(x4(), w4(), groups=-2), ["groups"]),
    ("groups_above_int64", lambda: gconv.conv2d(x4(), w4(), groups=2**64), ["groups"]),
    ("stride_zero", lambda: gconv.conv2d(x4(), w4(), stride=0), ["stride"]),
    ("stride_negative", lambda: gconv.conv2d(x4(), w4(), stride=(1, -1)), ["stride"]),
    ("stride_three_values", lambda: gconv.conv2d(x4(), w4(), stride=(1, 1, 1)), ["stride"]),
    ("stride_one_value_tuple", lambda: gconv.conv2d(x4(), w4(), stride=(1,)), ["stride"]),
    ("stride_above_int64", lambda: gconv.conv2d(x4(), w4(), stride=2**63), ["stride"]),
    ("stride_far_above_int64", lambda: gconv.conv2d(x4(), w4(), stride=10**30), ["stride"]),
    ("dilation_zero", lambda: gconv.conv2d(x4(), w4(), dilation=0), ["dilation"]),
    ("dilation_wrong_length", lambda: gconv.conv2d(x4(), w4(), dilation=(1, 1, 1)), ["dilation"]),
    ("dilation_above_int64", lambda: gconv.conv2d(x4(), w4(), dilation=(1, 2**64)), ["dilation"]),
    ("padding_negative", lambda: gconv.conv2d(x4(), w4(), padding=-1), ["padding"]),
    ("padding_pair_negative", lambda: gconv.conv2d(x4(), w4(), padding=(1, -1)), ["padding"]),
    ("padding_side_negative", lambda: gconv.conv2d(x4(), w4(), padding=((0, 0), (-1, 1))), ["padding"]),
    ("padding_three_values", lambda: gconv.conv2d(x4(), w4(), padding=(1, 1, 1)), ["padding"]),
    ("padding_pair_of_three", lambda: gconv.conv2d(x4(), w4(), padding=((1, 1, 1), (0, 0))), ["padding"]),
    ("padding_unknown_string", lambda: gconv.conv2d(x4(), w4(), padding="full"), ["padding", "full"]),
    ("padding_above_int64", lambda: gconv.conv2d(x4(), w4(), padding=2**63), ["padding"]),
    ("layout_unknown", lambda: gconv.conv2d(x4(), w4(), layout="NCWH"), ["layout", "NCWH"]),
    ("layout_3d_for_conv2d", lambda: gconv.conv2d(x4(), w4(), layout="NCDHW"), ["layout"]),
    ("activation_unknown", lambda: gconv.conv2d(x4(), w4(), activation="gelu"), ["activation", "gelu"]),
    ("output_height_below_one", lambda: gconv.conv2d(x4(h=3, w=9), w4(r=5, s=5)), [r"\b3\b", r"\b5\b"]),
    ("output_width_below_one_by_dilation", lambda: gconv.conv2d(x4(h=9, w=5), w4(), dilation=3),
     [r"\b5\b", r"\b7\b"]),
    ("zero_input_channels", lambda: gconv.conv2d(x4(c=0), w4(cg=0)), [r"\b0\b"]),
    ("zero_height", lambda: gconv.conv2d(x4(h=0), w4(r=1, s=1)), [r"\b0\b"]),
    ("bias_wrong_length", lambda: gconv.conv2d(x4(), w4(), np.zeros(5, F32)), ["bias", r"\b5\b"]),
    ("bias_2d", lambda: gconv.conv2d(x4(), w4(), np.zeros((4, 1), F32)), ["bias"]),
    ("out_wrong_shape", lambda: gconv.conv2d(x4(), w4(), out=np.zeros((1, 4, 3, 4), F32)), ["out"]),
    ("out_batched_for_unbatched", lambda: gconv.conv2d(x4()[0], w4(), out=np.zeros((1, 4, 3, 3), F32)), ["out"]),
    ("out_non_contiguous", lambda: gconv.conv2d(x4(), w4(), out=np.zeros((1, 4, 3, 6), F32)[..., ::2]),
     ["out", "contiguous"]),
    ("out_fortran_order", lambda: gconv.conv2d(x4(), w4(), out=np.zeros((1, 4, 3, 3), F32, order="F")),
     ["out"]),
    ("forced_gemm_1x1_on_3x3", lambda: gconv.conv2d(x4(), w4(), force_algorithm="gemm_1x1"), ["gemm_1x1"]),
    ("forced_depthwise_on_dense", lambda: gconv.conv2d(x4(), w4(), force_algorithm="depthwise"), ["depthwise"]),
    ("forced_global_on_local", lambda: gconv.conv2d(x4(), w4(cg=1), groups=4, force_algorithm="global_depthwise"),
     ["global_depthwise"]),
    ("depthwise_weight_two_per_group", lambda: gconv.depthwise_conv2d(x4(), w4(k=8, cg=2)), ["weight"]),
    ("depthwise_out_not_multiple", lambda: gconv.depthwise_conv2d(x4(), w4(k=6, cg=1)), [r"\b6\b", r"\b4\b"]),
    ("gdc_weight_wrong_spatial", lambda: gconv.global_depthwise_conv2d(x4(), w4(cg=1, r=3, s=3)), [r"\b5\b", r"\b3\b"]),
    ("gap_2d_input", lambda: gconv.global_avg_pool2d(np.ones((4, 5), F32)), [r"\b2\b|\(4, 5\)|\[4, 5\]"]),
    ("shuffle_groups_not_dividing", lambda: gconv.channel_shuffle(x4(c=6), 4), [r"\b6\b", r"\b4\b"]),
    ("shuffle_groups_zero", lambda: gconv.channel_shuffle(x4(), 0), ["groups"]),
    ("shuffle_2d_input", lambda: gconv.channel_shuffle(np.ones((4, 5), F32), 2), [r"\b2\b|\(4, 5\)|\[4, 5\]"]),
    ("shuffle_out_wrong_shape", lambda: gconv.channel_shuffle(x4(), 2, out=np.zeros((1, 4, 5, 4), F32)), ["out"]),
    ("block_diagonal_not_dividing", lambda: gconv.block_diagonal(w4(k=6, cg=2), 4), [r"\b6\b", r"\b4\b"]),
    ("plan_out_channels_not_dividing", lambda: gconv.Conv2d(w4(k=6, cg=2), groups=4), [r"\b6\b", r"\b4\b"]),
    ("plan_bad_input_channels", lambda: gconv.Conv2d(w4(k=8, cg=2), groups=2)(x4(c=6)), [r"\b6\b", r"\b4\b"]),
    ("plan_algorithm_bad_channels", lambda: gconv.Conv2d(w4(k=8, cg=2), groups=2).algorithm((1, 6, 5, 5)),
     [r"\b6\b", r"\b4\b"]),
    ("plan_forced_not_accepting", lambda: gconv.Conv2d(w4(), force_algorithm="gemm_1x1")(x4()), ["gemm_1x1"]),
    ("cost_groups_not_dividing", lambda: gconv.conv2d_cost((1, 6, 5, 5), (8, 2, 3, 3), groups=4),
     [r"\b6\b", r"\b4\b"]),
    ("cost_output_below_one", lambda: gconv.conv2d_cost((1, 4, 2, 2), (4, 4, 3, 3)), [r"\b2\b", r"\b3\b"]),
    ("threads_zero", lambda: gconv.set_num_threads(0), [r"\b0\b"]),
    ("threads_negative", lambda: gconv.set_num_threads(-3), [r"-3"]),
]


@pytest.mark.parametrize("call,patterns", [(c, p) for _, c, p in TYPE_ERRORS], ids=[i for i, _, _ in TYPE_ERRORS])
def test_bad_type_raises_type_error_naming_it(call, patterns, restore_threads):
    with pytest.raises(TypeError) as excinfo:
        call()
    message_names(excinfo, *patterns)


@pytest.mark.parametrize("call,patterns", [(c, p) for _, c, p in VALUE_ERRORS], ids=[i for i, _, _ in VALUE_ERRORS])
def test_bad_value_raises_value_error_naming_it(call, patterns, restore_threads):
    with pytest.raises(ValueError) as excinfo:
        call()
    message_names(excinfo, *patterns)


def test_groups_error_message_follows_the_documented_wording():
    with pytest.raises(ValueError, match=r"in_channels \(6\) must be divisible by groups \(4\)"):
        gconv.conv2d(x4(c=6), w4(k=8, cg=2), groups=4)


def test_channel_mismatch_message_says_what_was_expected_and_found():
    with pytest.raises(ValueError) as excinfo:
        gconv.conv2d(x4(c=6), w4(k=8, cg=2), groups=2)
    message_names(excinfo, r"expected.*\b4\b.*channels", r"got \b6\b")


@pytest.mark.parametrize("padding", [2**62, ((2**62, 2**62), (0, 0))])
def test_padding_whose_sizes_overflow_int64_raises_instead_of_wrapping(padding):
    with pytest.raises((ValueError, MemoryError)):
        gconv.conv2d(x4(), w4(), padding=padding)


@pytest.mark.parametrize("out_channels", [1, 16])
def test_huge_broadcast_input_raises_instead_of_wrapping(out_channels):
    # A zero-stride view of 2**60 elements; with 16 output channels the
    # result has 2**64 elements, which overflows an int64 count.
    x = np.broadcast_to(np.float32(1), (2**20, 2**20, 2**20, 1))
    with pytest.raises((ValueError, MemoryError)):
        gconv.conv2d(x, np.ones((out_channels, 1, 1, 1), F32), layout="NHWC")


@pytest.mark.parametrize("padding", [2**24, 2**30])
def test_result_too_large_to_allocate_raises(padding):
    # 2**50 float32 (4 PiB) cannot be allocated; 2**62 float32 overflows a byte count.
    with pytest.raises((ValueError, MemoryError)):
        gconv.conv2d(np.ones((1, 1, 1, 1), F32), np.ones((1, 1, 1, 1), F32), padding=padding)


def test_read_only_out_is_rejected():
    out = np.zeros((1, 4, 3, 3), F32)
    out.flags.writeable = False
    with pytest.raises((ValueError, TypeError)):
        gconv.conv2d(x4(), w4(), out=out)
    assert not out.any()
