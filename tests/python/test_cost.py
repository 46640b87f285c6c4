"""conv2d_cost: parameter count, MACs, FLOPs, output shape and minimal bytes."""

import numpy as np
import pytest

import gconv


@pytest.mark.parametrize("bias", [False, True])
def test_resnext_grouped_layer_costs(bias):
    # ResNeXt conv2: g32, 128 -> 128 channels, 3x3, 56x56, pad 1.
    cost = gconv.conv2d_cost((1, 128, 56, 56), (128, 4, 3, 3), padding=1, groups=32, bias=bias)
    params = 128 * 4 * 3 * 3 + (128 if bias else 0)
    macs = 1 * 128 * 56 * 56 * 4 * 3 * 3
    assert cost.params == params
    assert cost.macs == macs
    assert cost.flops == 2 * macs
    assert tuple(cost.output_shape) == (1, 128, 56, 56)
    assert cost.min_bytes == 4 * (128 * 56 * 56 + params + 128 * 56 * 56)


def test_groups_divide_params_and_macs():
    dense = gconv.conv2d_cost((2, 64, 14, 14), (64, 64, 3, 3), padding=1)
    grouped = gconv.conv2d_cost((2, 64, 14, 14), (64, 8, 3, 3), padding=1, groups=8)
    assert dense.params == 8 * grouped.params
    assert dense.macs == 8 * grouped.macs
    assert dense.output_shape == grouped.output_shape


def test_nhwc_stride_and_float64_costs():
    # NHWC input (N, H, W, C) = (4, 15, 16, 12); 'same' with stride 2 gives ceil(15/2) x ceil(16/2).
    cost = gconv.conv2d_cost((4, 15, 16, 12), (24, 3, 5, 5), stride=2, padding="same", groups=4,
                             layout="NHWC", dtype=np.float64)
    assert tuple(cost.output_shape) == (4, 8, 8, 24)
    macs = 4 * 24 * 8 * 8 * 3 * 5 * 5
    assert cost.macs == macs and cost.flops == 2 * macs
    assert cost.params == 24 * 3 * 5 * 5
    assert cost.min_bytes == 8 * (4 * 15 * 16 * 12 + 24 * 3 * 5 * 5 + 4 * 8 * 8 * 24)


def test_depthwise_with_dilation_and_asymmetric_padding_costs():
    cost = gconv.conv2d_cost((1, 32, 10, 9), (64, 1, 3, 3), padding=((1, 2), (0, 3)), dilation=2,
                             groups=32, bias=True)
    oh = (10 + 3 - 2 * 2 - 1) // 1 + 1
    ow = (9 + 3 - 2 * 2 - 1) // 1 + 1
    assert tuple(cost.output_shape) == (1, 64, oh, ow)
    assert cost.params == 64 * 9 + 64
    assert cost.macs == 64 * oh * ow * 9
    assert cost.min_bytes == 4 * (32 * 10 * 9 + 64 * 9 + 64 + 64 * oh * ow)


def test_global_depthwise_costs():
    cost = gconv.conv2d_cost((16, 512, 7, 7), (512, 1, 7, 7), groups=512)
    assert tuple(cost.output_shape) == (16, 512, 1, 1)
    assert cost.macs == 16 * 512 * 49
    assert cost.params == 512 * 49


def test_costs_are_exact_python_ints_for_large_layers():
    cost = gconv.conv2d_cost((256, 1024, 224, 224), (1024, 1024, 7, 7), padding=3)
    assert cost.macs == 256 * 1024 * 224 * 224 * 1024 * 49
    assert cost.flops == 2 * cost.macs


def test_cost_matches_the_shape_conv2d_returns():
    x = np.zeros((2, 6, 9, 7), np.float32)
    w = np.zeros((9, 2, 3, 2), np.float32)
    kwargs = dict(stride=(2, 1), padding=((0, 1), (2, 0)), dilation=(1, 2), groups=3)
    cost = gconv.conv2d_cost(x.shape, w.shape, **kwargs)
    assert tuple(cost.output_shape) == gconv.conv2d(x, w, **kwargs).shape
