"""conv2d gradients and conv_transpose2d against the float64 reference,
torch autograd, and the adjoint identity; determinism; errors."""

from dataclasses import replace

import numpy as np
import pytest

import gconv
from gconv import reference
from conftest import (CHANNEL_CONFIGS, PADDINGS, ConvCase, assert_close, assert_same_bits,
                      covering_array, fit_spatial, message_names, random_array)


def _torch():
    try:
        import torch as module
    except ImportError:
        pytest.skip("torch not installed")
    return module


def _grad_cases():
    """Pairwise grid over channels/groups, kernel, stride, dilation, padding,
    layout, dtype and batch (None = unbatched)."""
    rows = covering_array({
        "channels": CHANNEL_CONFIGS,
        "kernel": [(1, 1), (3, 3), (2, 3), (5, 5), (3, 1)],
        "stride": [1, 2, 3, (2, 1)],
        "dilation": [1, 2],
        "padding": PADDINGS,
        "layout": ["NCHW", "NHWC"],
        "dtype": ["float32", "float64"],
        "n": [1, 2, None],
    }, seed=4)
    cases = []
    for row in rows:
        c, g, k = row.pop("channels")
        case = fit_spatial(ConvCase(c=c, g=g, k=k, h=7, w=6, **row))
        cases.append(case)
    return cases


GRAD_CASES = _grad_cases()


def _kwargs(case):
    kwargs = case.kwargs()
    del kwargs["activation"]  # gradients are of the pre-activation output
    return kwargs


def _data(case):
    x, w, _ = case.arrays()
    y_ref = reference.conv2d(x.astype(np.float64), w.astype(np.float64), None, **_kwargs(case))
    dy = random_array(y_ref.shape, case.dtype, case.seed + 7)
    return x, w, dy


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id())
def test_gradients_match_reference(case):
    x, w, dy = _data(case)
    kwargs = _kwargs(case)
    gi, gw, gb = gconv.conv2d_backward(x, w, dy, **kwargs)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    ri, rw, rb = reference.conv2d_backward(x64, w64, dy64, **kwargs)
    assert_close(gi, ri, case.dtype, f"grad_input {case.descriptor()}")
    assert_close(gw, rw, case.dtype, f"grad_weight {case.descriptor()}")
    assert_close(gb, rb, case.dtype, f"grad_bias {case.descriptor()}")
    # The separate functions give the same bits as conv2d_backward.
    assert_same_bits(gconv.conv2d_input_grad(x.shape, w, dy, **kwargs), gi, "input_grad")
    assert_same_bits(gconv.conv2d_weight_grad(x, w.shape, dy, **kwargs), gw, "weight_grad")


@pytest.mark.parametrize("case", GRAD_CASES[::3], ids=lambda c: c.id())
def test_gradients_satisfy_the_adjoint_identity(case):
    """<conv(x), dy> == <x, input_grad(dy)> == <w, weight_grad(x, dy)>, in
    float64, whatever the geometry: gradients that are transposes of the
    forward pass and not of some other convolution."""
    case = replace(case, dtype="float64")
    x, w, dy = _data(case)
    kwargs = _kwargs(case)
    y = gconv.conv2d(x, w, **kwargs)
    forward = float((y * dy).sum())
    via_input = float((x * gconv.conv2d_input_grad(x.shape, w, dy, **kwargs)).sum())
    via_weight = float((w * gconv.conv2d_weight_grad(x, w.shape, dy, **kwargs)).sum())
    scale = max(1.0, float(np.abs(y).sum() * np.abs(dy).max()))
    assert abs(forward - via_input) <= 1e-12 * scale
    assert abs(forward - via_weight) <= 1e-12 * scale


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("c,g,k,kernel,stride,padding,dilation", [
    (8, 8, 8, 3, 1, 1, 1),        # depthwise
    (8, 8, 16, 3, 2, 1, 1),       # depthwise, multiplier 2, stride 2
    (16, 4, 16, 3, 1, 1, 1),      # narrow groups
    (32, 32, 32, 7, 1, 3, 1),     # ConvNeXt 7x7
    (48, 2, 64, 5, 2, 2, 1),      # AlexNet-like wide groups
    (24, 1, 16, 3, 2, 1, 2),      # dense, dilated
    (12, 12, 12, 5, 1, 0, 1),     # GDC: kernel == input
])
def test_gradients_match_torch_autograd(layout, c, g, k, kernel, stride, padding, dilation):
    torch = _torch()
    h = 5 if kernel == 5 and padding == 0 else 9
    x = random_array((2, c, h, h), np.float32, 1)
    w = random_array((k, c // g, kernel, kernel), np.float32, 2)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.zeros(k, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, bt, stride, padding, dilation, g)
    dy = random_array(tuple(y.shape), np.float32, 3)
    y.backward(torch.tensor(dy))
    to_layout = (lambda a: a) if layout == "NCHW" else (lambda a: a.transpose(0, 2, 3, 1))
    gi, gw, gb = gconv.conv2d_backward(to_layout(x), w, to_layout(dy), stride, padding, dilation, g,
                                       layout=layout)
    np.testing.assert_allclose(gi, to_layout(xt.grad.numpy()), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-5, atol=1e-4)


def test_gradients_pass_finite_differences():
    """Central differences of L = sum(conv2d(x, w) * dy) in float64, on a
    shape small enough to perturb every element."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    kwargs = dict(stride=(2, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), groups=2)
    dy = rng.standard_normal(gconv.conv2d(x, w, **kwargs).shape)

    def loss(xv, wv):
        return float((gconv.conv2d(xv, wv, **kwargs) * dy).sum())

    gi, gw, _ = gconv.conv2d_backward(x, w, dy, **kwargs)
    eps = 1e-6
    for array, grad, which in ((x, gi, 0), (w, gw, 1)):
        numeric = np.empty_like(array)
        for idx in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_plus = (plus, w) if which == 0 else (x, plus)
            args_minus = (minus, w) if which == 0 else (x, minus)
            numeric[idx] = (loss(*args_plus) - loss(*args_minus)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("c,g,k,stride", [(64, 64, 64, 1), (32, 8, 32, 2), (64, 1, 48, 1)])
def test_weight_grad_is_bitwise_the_same_for_any_thread_count(layout, c, g, k, stride):
    x = random_array((3, c, 13, 11) if layout == "NCHW" else (3, 13, 11, c), np.float32, 1)
    ref_y = gconv.conv2d(x, random_array((k, c // g, 3, 3), np.float32, 2), stride=stride,
                         padding=1, groups=g, layout=layout)
    dy = random_array(ref_y.shape, np.float32, 3)
    results = []
    for n in (1, 2, 3, 8):
        with gconv.threads(n):
            results.append(gconv.conv2d_weight_grad(x, (k, c // g, 3, 3), dy, stride, 1, 1, g,
                                                    layout=layout))
    for r in results[1:]:
        assert_same_bits(r, results[0], "weight_grad across thread counts")


def test_nan_in_input_reaches_only_the_weights_that_saw_it():
    x = np.zeros((1, 2, 6, 6), np.float32)
    x[0, 1, 0, 0] = np.nan
    w = np.ones((2, 1, 3, 3), np.float32)
    dy = np.ones((1, 2, 4, 4), np.float32)
    gw = gconv.conv2d_weight_grad(x, w.shape, dy, groups=2)
    assert not np.isnan(gw[0]).any()               # channel 0 never sees the NaN
    assert np.isnan(gw[1, 0, 0, 0])                # tap (0, 0) reads x[0, 1, 0, 0]
    assert not np.isnan(gw[1, 0, 1:, :]).any()     # other rows of taps never do



def test_nan_in_grad_output_reaches_exactly_its_window_of_inputs():
    x_shape = (1, 2, 9, 9)
    w = np.ones((2, 1, 3, 3), np.float32)
    dy = np.ones((1, 2, 4, 4), np.float32)
    dy[0, 1, 1, 2] = np.nan  # output (1, 2) of channel 1, stride 2: inputs rows 2-4, cols 4-6
    gi = gconv.conv2d_input_grad(x_shape, w, dy, stride=2, groups=2)
    expected = np.zeros(x_shape, bool)
    expected[0, 1, 2:5, 4:7] = True
    np.testing.assert_array_equal(np.isnan(gi), expected)


@pytest.mark.parametrize("n", [0, 1])
def test_empty_batch_gives_zero_weight_grad_and_empty_input_grad(n):
    x = np.zeros((n, 4, 5, 5), np.float32)
    w = np.ones((4, 2, 3, 3), np.float32)
    dy = np.zeros((n, 4, 3, 3), np.float32)
    gi, gw, gb = gconv.conv2d_backward(x, w, dy, groups=2)
    assert gi.shape == x.shape and gw.shape == w.shape and gb.shape == (4,)
    assert not gw.any() and not gb.any()


def test_backward_returns_only_what_needs_names():
    x = random_array((1, 4, 5, 5), np.float64, 0)
    w = random_array((4, 1, 3, 3), np.float64, 1)
    dy = random_array((1, 4, 3, 3), np.float64, 2)
    gi, gw, gb = gconv.conv2d_backward(x, w, dy, groups=4, needs=("weight",))
    assert gi is None and gb is None and gw.shape == w.shape
    gi, gw, gb = gconv.conv2d_backward(x, w, dy, groups=4, needs=("input", "bias"))
    assert gw is None and gi.shape == x.shape and gb.shape == (4,)


@pytest.mark.parametrize("call,patterns", [
    (lambda x, w, dy: gconv.conv2d_backward(x, w, dy, groups=4, needs=("inputs",)), ["needs", "inputs"]),
    (lambda x, w, dy: gconv.conv2d_input_grad((1, 4, 5, 5), w, dy[:, :, :2], groups=4),
     ["grad_output", r"\(1, 4, 2, 3\)", r"\(1, 4, 3, 3\)"]),
    (lambda x, w, dy: gconv.conv2d_weight_grad(x, (4, 2, 3, 3), dy, groups=4),
     ["in_channels|channels", "8|4"]),
    (lambda x, w, dy: gconv.conv2d_weight_grad(x, (3, 1, 3, 3), dy, groups=4),
     ["out_channels", "3", "groups"]),
    (lambda x, w, dy: gconv.conv2d_input_grad((1, 6, 5, 5), w, dy, groups=4),
     ["in_channels", "6", "groups"]),
])
def test_bad_gradient_arguments_raise_value_error_naming_them(call, patterns):
    x = random_array((1, 4, 5, 5), np.float32, 0)
    w = random_array((4, 1, 3, 3), np.float32, 1)
    dy = random_array((1, 4, 3, 3), np.float32, 2)
    with pytest.raises(ValueError) as excinfo:
        call(x, w, dy)
    message_names(excinfo, *patterns)


def test_mixed_gradient_dtypes_raise_type_error():
    x = np.zeros((1, 4, 5, 5), np.float32)
    dy = np.zeros((1, 4, 3, 3), np.float64)
    with pytest.raises(TypeError) as excinfo:
        gconv.conv2d_weight_grad(x, (4, 1, 3, 3), dy, groups=4)
    message_names(excinfo, "float32", "float64")
    with pytest.raises(TypeError):
        gconv.conv2d_input_grad((1, 4, 5, 5), np.zeros((4, 1, 3, 3), np.int32), dy, groups=4)


# --------------------------------------------------------------------------- conv_transpose2d

def _transpose_cases():
    rows = covering_array({
        "channels": [(4, 1, 6), (6, 3, 9), (8, 8, 8), (5, 5, 10), (16, 4, 8)],  # (C_in, G, C_out)
        "kernel": [(1, 1), (3, 3), (2, 4), (5, 5)],
        "stride": [1, 2, 3, (1, 2)],
        "dilation": [1, 2],
        "padding": [0, 1, (2, 0), ((0, 2), (1, 0))],
        "output_padding": [0, 1],
        "layout": ["NCHW", "NHWC"],
        "dtype": ["float32", "float64"],
        "bias": [False, True],
    }, seed=9)
    cases = []
    for row in rows:
        stride = row["stride"] if isinstance(row["stride"], tuple) else (row["stride"],) * 2
        dilation = (row["dilation"],) * 2
        if any(row["output_padding"] >= max(s, d) for s, d in zip(stride, dilation)):
            row["output_padding"] = 0
        cases.append(row)
    return cases


def _transpose_id(row):
    return "-".join(f"{k}={v}" for k, v in row.items()).replace(" ", "")


@pytest.mark.parametrize("row", _transpose_cases(), ids=_transpose_id)
def test_conv_transpose2d_matches_reference(row):
    c_in, g, c_out = row["channels"]
    x = random_array((2, c_in, 4, 5), row["dtype"], 0)
    w = random_array((c_in, c_out // g, *row["kernel"]), row["dtype"], 1)
    b = random_array((c_out,), row["dtype"], 2) if row["bias"] else None
    args = (row["stride"], row["padding"], row["output_padding"], g, row["dilation"])
    try:
        ref = reference.conv_transpose2d(x.astype(np.float64), w.astype(np.float64),
                                         None if b is None else b.astype(np.float64), *args)
    except ValueError:
        with pytest.raises(ValueError):
            gconv.conv_transpose2d(x, w, b, *args)
        return
    xa = x if row["layout"] == "NCHW" else x.transpose(0, 2, 3, 1)
    got = gconv.conv_transpose2d(xa, w, b, *args, layout=row["layout"])
    if row["layout"] == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    assert_close(got, ref, row["dtype"], f"conv_transpose2d {row}")


# A strided transposed convolution runs a few images at a time through one
# phase buffer (_PHASE_BUFFER_BYTES): with room for two images, five run as
# 2 + 2 + 1, each chunk's phases written back to back and interleaved into
# its own images; phases no tap reaches (stride 3 over a 2-wide kernel)
# take the bias alone. (Dense, 36 x 36 channels: narrower groups take the
# one-pass kernels, test_transposed_grouped.py.)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strided_transpose_in_image_chunks_matches_reference(layout, dtype, monkeypatch):
    x = random_array((5, 36, 4, 5), dtype, 0)
    w = random_array((36, 36, 3, 2), dtype, 1)
    b = random_array((36,), dtype, 2)
    args = ((2, 3), (1, 0), (1, 2), 1, 1)
    ref = reference.conv_transpose2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                     *args)
    _, c_out, oh, ow = ref.shape
    phases_of_one_image = 2 * 3 * c_out * -(-oh // 2) * -(-ow // 3) * np.dtype(dtype).itemsize
    monkeypatch.setattr(gconv._grad, "_PHASE_BUFFER_BYTES", 2 * phases_of_one_image)
    chunks = []
    interleave = gconv._core.interleave_phases
    monkeypatch.setattr(gconv._core, "interleave_phases",
                        lambda *a, **k: chunks.append(a[2]) or interleave(*a, **k))
    xa = x if layout == "NCHW" else x.transpose(0, 2, 3, 1)
    got = gconv.conv_transpose2d(xa, w, b, *args, layout=layout)
    assert chunks == [2, 2, 1]
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    assert_close(got, ref, dtype, f"conv_transpose2d in chunks {layout} {dtype}")


@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation", [
    (2, 1, 1, 1, 1), (3, 0, 2, 2, 1), (1, 2, 0, 4, 2), (2, 0, 1, 4, 3), ((2, 3), (1, 0), (1, 2), 2, 1),
])
def test_conv_transpose2d_matches_torch(stride, padding, output_padding, groups, dilation):
    torch = _torch()
    x = random_array((2, 8, 5, 6), np.float32, 0)
    w = random_array((8, 12 // groups, 3, 3), np.float32, 1)
    b = random_array((12,), np.float32, 2)
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b),
                                               stride, padding, output_padding, groups, dilation)
    got = gconv.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-4)


def test_conv_transpose2d_is_the_input_gradient():
    x = random_array((2, 6, 9, 8), np.float64, 0)
    w = random_array((6, 2, 3, 3), np.float64, 1)
    dy = random_array(gconv.conv2d(x, w, stride=2, padding=1, groups=3).shape, np.float64, 2)
    gi = gconv.conv2d_input_grad(x.shape, w, dy, stride=2, padding=1, groups=3)
    # 9 = (5 - 1) * 2 - 2 + 3 + 0, 8 = (4 - 1) * 2 - 2 + 3 + 1.
    ct = gconv.conv_transpose2d(dy, w, stride=2, padding=1, output_padding=(0, 1), groups=3)
    assert_same_bits(ct, gi, "conv_transpose2d vs conv2d_input_grad")


def test_conv_transpose2d_writes_out_and_handles_unbatched_input():
    x = random_array((4, 3, 3), np.float32, 0)
    w = random_array((4, 2, 3, 3), np.float32, 1)
    out = np.full((2, 7, 7), np.nan, np.float32)
    got = gconv.conv_transpose2d(x, w, stride=2, padding=0, groups=1, out=out)
    assert got is out
    ref = reference.conv_transpose2d(x[None].astype(np.float64), w.astype(np.float64), stride=2)[0]
    assert_close(out, ref, np.float32, "conv_transpose2d unbatched out=")
    bad = np.zeros((2, 7, 6), np.float32)
    with pytest.raises(ValueError) as excinfo:
        gconv.conv_transpose2d(x, w, stride=2, out=bad)
    message_names(excinfo, "out", r"\(2, 7, 7\)")
    assert not bad.any()


@pytest.mark.parametrize("kwargs,patterns", [
    (dict(output_padding=2, stride=2), ["output_padding", "stride"]),
    (dict(groups=3), ["in_channels", "4", "groups", "3"]),
    (dict(padding="same"), ["padding", "same"]),
    (dict(padding=5), ["output size", "must be >= 1"]),
])
def test_conv_transpose2d_bad_arguments_raise_value_error(kwargs, patterns):
    x = random_array((1, 4, 3, 3), np.float32, 0)
    w = random_array((4, 2, 3, 3), np.float32, 1)
    with pytest.raises(ValueError) as excinfo:
        gconv.conv_transpose2d(x, w, **kwargs)
    message_names(excinfo, *patterns)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("c_in,groups,c_out,padding", [
    (6, 6, 6, 0),    # GDC's input gradient: one product per element
    (6, 6, 6, 1),    # the same, the window cropped and zero past the kernel
    (130, 130, 130, 0),  # items of 64 planes, the last shorter
    (6, 3, 12, 1),   # grouped, cropped: a grouped 1x1 conv
    (4, 1, 2, 0),
])
def test_transposed_conv_of_a_single_pixel_matches_reference(layout, c_in, groups, c_out, padding):
    x = random_array((2, c_in, 1, 1), np.float64, 0)
    w = random_array((c_in, c_out // groups, 5, 4), np.float64, 1)
    b = random_array((c_out,), np.float64, 2)
    ref = reference.conv_transpose2d(x, w, b, padding=padding, groups=groups)
    xa = x if layout == "NCHW" else x.transpose(0, 2, 3, 1)
    got = gconv.conv_transpose2d(xa, w, b, padding=padding, groups=groups, layout=layout)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    assert_close(got, ref, np.float64, f"conv_transpose2d 1x1 input {layout}")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gdc_input_grad_of_strided_arrays_matches_reference(layout, dtype):
    # grad_output and weight as non-contiguous views, in both layouts.
    w = random_array((10, 1, 14, 6), dtype, 1)[:, :, ::2, :]      # (10, 1, 7, 6)
    dy = random_array((3, 20, 1, 1), dtype, 2)[:, ::2]               # (3, 10, 1, 1)
    ref = reference.conv2d_input_grad((3, 10, 7, 6), w.astype(np.float64),
                                      dy.astype(np.float64), groups=10)
    dya = dy if layout == "NCHW" else dy.transpose(0, 2, 3, 1)
    shape = (3, 10, 7, 6) if layout == "NCHW" else (3, 7, 6, 10)
    got = gconv.conv2d_input_grad(shape, w, dya, groups=10, layout=layout)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    assert_close(got, ref, dtype, f"GDC input gradient {layout}")


@pytest.mark.parametrize("module", ["_grad", "_api"])
def test_docstring_examples_run_as_written(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"gconv.{module}"),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("seed", range(4))
def test_weight_grad_matches_reference_on_random_geometries(seed):
    """Odd channel counts per group (1-19 in, 1-14 out), 1-12 groups, every
    kernel, stride, padding and dilation mix: the band copies' partial lane
    blocks and transposes (run under ASan in CI) must neither read nor write
    outside their arrays and must never mix a missing channel into a real one."""
    rng = np.random.default_rng(seed)
    checked = 0
    while checked < 12:
        g, cg, kg = (int(v) for v in rng.integers(1, (13, 20, 15)))
        h, w = (int(v) for v in rng.integers(3, (17, 23)))
        r, s = (int(v) for v in rng.integers(1, 5, 2))
        stride, pad, dil = int(rng.integers(1, 3)), int(rng.integers(0, 3)), int(rng.integers(1, 3))
        if h + 2 * pad < dil * (r - 1) + 1 or w + 2 * pad < dil * (s - 1) + 1:
            continue
        layout = ("NCHW", "NHWC")[checked % 2]
        x = rng.standard_normal((2, g * cg, h, w)).astype(np.float32)
        weight_shape = (g * kg, cg, r, s)
        out = reference.conv2d(x.astype(np.float64), np.zeros(weight_shape), None, stride, pad,
                               dil, g)
        dy = rng.standard_normal(out.shape).astype(np.float32)
        ref = reference.conv2d_weight_grad(x.astype(np.float64), weight_shape,
                                           dy.astype(np.float64), stride, pad, dil, g)
        xa, da = (x, dy) if layout == "NCHW" else (x.transpose(0, 2, 3, 1), dy.transpose(0, 2, 3, 1))
        got = gconv.conv2d_weight_grad(xa, weight_shape, da, stride, pad, dil, g, layout=layout)
        assert_close(got, ref, np.float32, f"weight_grad G={g} Cg={cg} Kg={kg} {h}x{w} "
                                           f"k={r}x{s} s={stride} p={pad} d={dil} {layout}")
        checked += 1


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("rows", [7, 8, 9, 15, 16, 17, 33])
@pytest.mark.parametrize("groups,cg", [(2, 20), (8, 4)], ids=["channel_lanes", "group_lanes"])
def test_weight_grad_bands_of_output_rows_match_reference(layout, rows, groups, cg):
    """Maps of output rows around the bands' heights (8 rows, or 16 in NCHW
    and in maps of up to 16 rows): every band adds its rows once, the last
    band's short count included."""
    rng = np.random.default_rng(rows * 10 + groups)
    x = rng.standard_normal((2, groups * cg, rows, 5)).astype(np.float32)
    weight_shape = (groups * 6, cg, 3, 3)
    dy = rng.standard_normal((2, groups * 6, rows, 5)).astype(np.float32)
    ref = reference.conv2d_weight_grad(x.astype(np.float64), weight_shape, dy.astype(np.float64),
                                       1, 1, 1, groups)
    xa, da = (x, dy) if layout == "NCHW" else (x.transpose(0, 2, 3, 1), dy.transpose(0, 2, 3, 1))
    got = gconv.conv2d_weight_grad(xa, weight_shape, da, 1, 1, 1, groups, layout=layout)
    assert_close(got, ref, np.float32, f"weight_grad {rows} rows G={groups} {layout}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c,m,size,stride,k", [(250, 1, 8, 1, 3), (80, 1, 40, 1, 3),
                                               (60, 2, 40, 1, 3), (120, 1, 64, 2, 3),
                                               (250, 1, 7, 1, 3), (40, 2, 6, 1, 5),
                                               (30, 1, 11, 1, 3)],
                         ids=["one_vector", "wide_rows", "multiplier_2", "wide_stride_2",
                              "row_pairs", "row_pairs_5x5", "one_row_a_vector"])
def test_depthwise_weight_grad_over_many_channel_chunks_matches_reference(dtype, c, m, size,
                                                                           stride, k):
    """NCHW depthwise takes its channels in chunks of accumulators (about a
    hundred channels of one-vector rows, a few dozen of wider rows), image
    by image, and rows of up to half a vector two at a time: more channels
    than a chunk holds, at one to three threads, give the reference's sums
    and the same bits."""
    rng = np.random.default_rng(c + size)
    x = rng.standard_normal((3, c, size, size)).astype(dtype)
    weight_shape = (c * m, 1, k, k)
    pad = k // 2
    out = (size + 2 * pad - k) // stride + 1
    dy = rng.standard_normal((3, c * m, out, out)).astype(dtype)
    ref = reference.conv2d_weight_grad(x.astype(np.float64), weight_shape, dy.astype(np.float64),
                                       stride, pad, 1, c)
    results = []
    for threads in (1, 2, 3):
        with gconv.threads(threads):
            results.append(gconv.conv2d_weight_grad(x, weight_shape, dy, stride, pad, 1, c))
    assert_close(results[0], ref, dtype, f"depthwise weight_grad C={c} m={m} {size}x{size}")
    for r in results[1:]:
        assert_same_bits(r, results[0], "depthwise weight_grad across thread counts")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("c,m,size,kernel,pad,dilation", [
    (40, 1, 7, 7, 0, 1),    # GDC: the kernel is the input
    (35, 2, 5, 5, 0, 1),    # multiplier 2, a channel count off the vector width
    (24, 1, 4, 6, 1, 1),    # taps in the padding on every side
    (20, 1, 5, 3, 0, 2),    # dilated taps over the whole input
    (18, 3, 3, 5, (2, 0), 1),  # uneven padding: taps in the top and left padding only
])
def test_global_depthwise_weight_grad_matches_reference(dtype, layout, c, m, size, kernel, pad,
                                                        dilation):
    """Depthwise layers with one output pixel (GDC) take their own weight
    gradient, a sum over images per weight: the reference's sums (zero where
    a tap lies in the padding), the same bits at one to three threads."""
    rng = np.random.default_rng(c + size)
    pads = pad if isinstance(pad, tuple) else (pad, pad)
    x = rng.standard_normal((5, c, size, size)).astype(dtype)
    dy = rng.standard_normal((5, c * m, 1, 1)).astype(dtype)
    weight_shape = (c * m, 1, kernel, kernel)
    padding = ((pads[0], pads[1]), (pads[0], pads[1]))
    ref = reference.conv2d_weight_grad(x.astype(np.float64), weight_shape, dy.astype(np.float64),
                                       1, padding, dilation, c)
    xa, dya = (x, dy) if layout == "NCHW" else (x.transpose(0, 2, 3, 1), dy.transpose(0, 2, 3, 1))
    results = []
    for threads in (1, 2, 3):
        with gconv.threads(threads):
            results.append(gconv.conv2d_weight_grad(xa, weight_shape, dya, 1, padding, dilation, c,
                                                    layout=layout))
    assert_close(results[0], ref, dtype, f"global depthwise weight_grad {layout} C={c} m={m}")
    for r in results[1:]:
        assert_same_bits(r, results[0], "global depthwise weight_grad across thread counts")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("groups,kernel,row_taps,col_taps", [
    (3, (3, 3), (2, 1, 0), (2, 1, 0)),   # stride 1: the whole kernel, flipped
    (1, (3, 2), (2, 0), (1,)),           # one phase of stride 2
    (2, (5, 4), (4, 1), (3, 1)),         # dilation 3 over stride 2, and stride 2
    (6, (1, 7), (0,), (6, 3, 0)),        # depthwise, one row
])
def test_phase_weights_are_the_transposed_flipped_taps(dtype, groups, kernel, row_taps, col_taps):
    k, cg = 6, 2
    w = random_array((k, cg) + kernel, dtype, 0)
    got = gconv._grad._transposed_weights(w, groups, row_taps, col_taps)
    kg = k // groups
    want = np.empty((groups * cg, kg, len(row_taps), len(col_taps)), dtype)
    for g in range(groups):
        for c in range(cg):
            for o in range(kg):
                want[g * cg + c, o] = w[g * kg + o, c][np.ix_(row_taps, col_taps)]
    np.testing.assert_array_equal(got, want)


def test_phase_weights_reject_a_mismatched_destination():
    w = np.zeros((4, 2, 3, 3), np.float32)
    transpose = gconv._core.transpose_weights
    with pytest.raises(ValueError, match="out has shape"):  # (Kg, Cg) not swapped
        transpose(0, np.zeros((4, 1, 3, 3), np.float32), 2, 2, 1, 3, 2, 1, 3,
                  np.zeros((4, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        transpose(0, w, 2, 2, 1, 3, 2, 1, 3, np.zeros((4, 2, 3, 3), np.float64))
    with pytest.raises(ValueError, match="dtype"):
        transpose(1, w, 2, 2, 1, 3, 2, 1, 3, np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="inconsistent sizes"):  # taps past the kernel
        transpose(0, w, 2, 2, 1, 4, 2, 1, 3, np.zeros((4, 2, 4, 3), np.float32))
