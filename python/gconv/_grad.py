"""Training: conv2d gradients and the transposed convolution.

The input gradient of a convolution is a transposed convolution, and both
run as ordinary forward convolutions through the planner and kernels of
``conv2d``: for stride 1 it is one correlation of the output gradient with
the flipped, group-transposed weights; for stride s the input splits into
s_h x s_w phases (rows i with i mod s_h fixed, columns likewise), and each
phase is a stride-1 correlation with the taps that reach it, so no work is
spent on the zeros a dilate-then-convolve scheme would insert. Two cases
have kernels of their own: a strided depthwise one (multiplier 1) runs in
one pass that writes each output once (src/cpu/transposed/), and a 1 x 1
gradient (GDC) is one product per output.

The weight gradient is its own C++ reduction (src/cpu/wgrad/), parallel
over blocks of weights with a fixed summation order.
"""

import functools
import math

import numpy as np

from . import _alloc, _args, _core
from ._api import conv2d
from ._conv_spec import (DTYPE_CODES, LAYOUT_CODES, as_float_array, check_bias_shape, check_out, check_same_dtype,
                         conv_params, kernel_ready)

_NEEDS = ("input", "weight", "bias")
# Bytes of the phase buffer of a strided transposed convolution (see
# _transposed_conv): a few images' phases, about what L2 and L3 keep.
_PHASE_BUFFER_BYTES = 4 << 20


def _shape_tuple(shape, name, where):
    try:
        dims = tuple(_args.as_int(d, name) for d in shape)
    except TypeError:
        if not hasattr(shape, "__iter__"):
            raise TypeError(f"{where}: {name} must be a tuple of ints, got {shape!r}") from None
        raise
    if any(d < 0 for d in dims):
        raise ValueError(f"{where}: {name} must not have negative sizes, got {dims}")
    return dims


def _check_grad_output(grad_output, expected, where):
    if grad_output.shape != tuple(expected):
        raise ValueError(
            f"{where}: grad_output has shape {grad_output.shape}, expected {tuple(expected)} "
            f"(the convolution's output shape)"
        )


def _spatial_axes(layout):
    return (2, 3) if layout == "NCHW" else (1, 2)


def _phase_taps(phase, pad, kernel, stride, dilation):
    """The kernel taps that reach input positions phase, phase + stride, ...
    and where their window starts: returns (taps in increasing offset order,
    offset of the first, offset step), offsets in output positions."""
    taps = [r for r in range(kernel) if (phase + pad - r * dilation) % stride == 0]
    taps.reverse()  # larger taps read earlier outputs
    if not taps:
        return taps, 0, 1
    first = (phase + pad - taps[0] * dilation) // stride
    step = dilation // math.gcd(stride, dilation) if len(taps) > 1 else 1
    return taps, first, step


def _window(first, step, taps, out_size, phase_size):
    """(crop_before, crop_after, pad_before, pad_after) that make a stride-1
    correlation with dilation ``step`` over the ``out_size`` gradient rows
    produce exactly ``phase_size`` rows starting at offset ``first``."""
    before = -first
    after = phase_size + step * (taps - 1) - out_size - before
    crop_before, crop_after = max(-before, 0), max(-after, 0)
    return crop_before, crop_after, max(before, 0), max(after, 0)


def _transposed_weights(weight, groups, row_taps, col_taps):
    """(K, C/G, R, S) -> (C, K/G, len(row_taps), len(col_taps)): the weights
    of the convolution that maps output channels back to input channels,
    group by group, at the given taps (each a decreasing arithmetic run, as
    _phase_taps gives), in one pass in C++ (NumPy's copy of the flipped,
    transposed view cost 15 us on MobileNetV2's 960 depthwise 3x3 weights;
    fancy indexing had copied a ResNeXt or AlexNet weight four times)."""
    k, cg, r, s = weight.shape
    rows, cols = len(row_taps), len(col_taps)
    out = _alloc.empty((groups * cg, k // groups, rows, cols), weight.dtype)
    return _core.transpose_weights(DTYPE_CODES[weight.dtype], kernel_ready(weight), groups,
                                   row_taps[0], _tap_step(row_taps), rows, col_taps[0],
                                   _tap_step(col_taps), cols, out)


def _tap_step(taps):
    """The spacing of ``taps`` (decreasing, evenly spaced)."""
    return taps[0] - taps[1] if len(taps) > 1 else 1


@functools.lru_cache(maxsize=256)
def _phase_plan(kernel, stride, pad_before, dilation, out_sizes, phase_sizes, axes):
    """Per phase (a, b): None where no tap reaches it (or only padding
    does), else (crop of dy, padding and dilation of its stride-1
    correlation, row taps, column taps). Depends on shapes alone, so
    repeated calls (a training loop) reuse it: building it took a fifth of
    a small transposed convolution's overhead."""
    phases = {}
    for a in range(stride[0]):
        for b in range(stride[1]):
            plan = [_phase_taps(p, pad_before[d], kernel[d], stride[d], dilation[d])
                    for d, p in enumerate((a, b))]
            windows = [_window(first, step, len(taps), out_sizes[d], phase_sizes[d])
                       for d, (taps, first, step) in enumerate(plan)]
            if any(not taps for taps, _, _ in plan) or any(
                    out_sizes[d] - w[0] - w[1] <= 0 for d, w in enumerate(windows)):
                phases[a, b] = None
                continue
            crop = [slice(None)] * 4
            for d, (c0, c1, _, _) in enumerate(windows):
                crop[axes[d]] = slice(c0, out_sizes[d] - c1)
            phases[a, b] = (tuple(crop), tuple((w[2], w[3]) for w in windows),
                            (plan[0][2], plan[1][2]), tuple(plan[0][0]), tuple(plan[1][0]))
    return phases


def _transposed_conv(dy, weight, groups, stride, pad_before, dilation, in_sizes, layout, bias,
                     result):
    """result (batched, in ``layout``) = the adjoint of the convolution with
    ``weight`` (K, C/G, R, S) applied to dy: result[i] gets dy[o] * w[r]
    for every o * stride + r * dilation - pad_before == i.

    With stride > 1 every phase is computed ceil(size / stride) rows and
    columns tall into one buffer (rows past the input are computed and
    dropped) and the phases are interleaved into ``result`` in one pass, a
    chunk of images at a time."""
    axes = _spatial_axes(layout)
    if (dy.shape[axes[0]], dy.shape[axes[1]]) == (1, 1) and dilation == (1, 1):
        return _transposed_from_one_pixel(dy, weight, groups, pad_before, in_sizes, layout, bias,
                                          result)
    # The one-pass strided kernels skip (or, NCHW grouped, partly skip) the
    # taps that fall outside dy, where the phase convolutions multiply their
    # zero padding: the same sums for finite weights, but an infinite or NaN
    # weight must give NaN at the borders on every route (see README), so
    # those weights take the phases.
    depthwise = weight.shape[1] == 1
    # Multiplier 2 in NHWC, 3x3 at stride 1, is a plain grouped conv2d of
    # two dy channels into each output, whose kernel shares each dy load
    # between neighbouring pixels (1.8-1.95x faster than the one pass); other
    # kernel sizes and strides take the one pass.
    multiplier_2 = (depthwise and weight.shape[0] == 2 * groups and layout == "NHWC"
                    and (stride != (1, 1) or weight.shape[2:] != (3, 3)))
    # Checked only where a one-pass kernel could run: the pass over the
    # weights costs time (AlexNet conv4: 0.14 ms a call).
    finite = (stride != (1, 1) or multiplier_2) and bool(np.isfinite(weight).all())
    one_pass = stride != (1, 1) and finite
    one_pass_depthwise = (one_pass and depthwise and weight.shape[0] == groups) or (
        multiplier_2 and finite)
    if one_pass_depthwise:
        # Depthwise, multiplier 1 (strided), or multiplier 2 in NHWC (any
        # stride; the grouped route, two dy channels into each output, ran
        # at 1.7x its forward's time): one pass that writes each output once,
        # where it beats the phases (in NCHW the kernels decline the rest,
        # which take the phases).
        if _core.transposed_depthwise(DTYPE_CODES[result.dtype], LAYOUT_CODES[layout],
                                      kernel_ready(dy), kernel_ready(weight), bias, result,
                                      stride, pad_before, dilation):
            return result
    elif one_pass and _core.transposed_grouped(
            DTYPE_CODES[result.dtype], LAYOUT_CODES[layout], kernel_ready(dy),
            kernel_ready(weight), groups, bias, result, stride, pad_before, dilation):
        return result  # narrow groups: one pass that writes each output once
    channel_axis = 1 if layout == "NCHW" else 3
    out_sizes = (dy.shape[axes[0]], dy.shape[axes[1]])
    kernel = weight.shape[2:]
    bias_shape = [1, 1, 1, 1]
    bias_shape[channel_axis] = -1
    strided = stride != (1, 1)
    rows, cols = (-(-in_sizes[0] // stride[0]), -(-in_sizes[1] // stride[1]))
    batch = result.shape[0]
    chunk = batch
    if strided:
        # Images a few at a time, through one phase buffer of about
        # _PHASE_BUFFER_BYTES reused for every chunk: a buffer for the whole
        # batch (77 MB for MobileNetV2's 112x112 stride-2 layer at N=16)
        # cost more in page faults and cache misses than the convolutions.
        phase_shape = list(result.shape)
        phase_shape[axes[0]], phase_shape[axes[1]] = rows, cols
        image_bytes = result.itemsize * stride[0] * stride[1] * int(np.prod(phase_shape[1:]))
        chunk = max(1, min(batch, _PHASE_BUFFER_BYTES // max(image_bytes, 1)))
        buffer = _alloc.empty((chunk * image_bytes // result.itemsize,), result.dtype)
    phase_convs = {}
    for ab, spec in _phase_plan(tuple(kernel), tuple(stride), tuple(pad_before), tuple(dilation),
                                out_sizes, (rows, cols), axes).items():
        if spec is not None:
            crop, padding, phase_dilation, row_taps, col_taps = spec
            spec = (crop, padding, phase_dilation,
                    _transposed_weights(weight, groups, row_taps, col_taps))
        phase_convs[ab] = spec
    for n0 in range(0, batch, chunk):
        n1 = min(batch, n0 + chunk)
        if strided:  # the chunk's phases back to back, as interleave_phases reads them
            phase_shape[0] = n1 - n0
            phases = buffer[:(n1 - n0) * image_bytes // result.itemsize].reshape(
                stride[0], stride[1], *phase_shape)
        for (a, b), spec in phase_convs.items():
            target = phases[a, b] if strided else result
            if spec is None:
                target[...] = 0 if bias is None else bias.reshape(bias_shape)
                continue
            crop, padding, phase_dilation, sub = spec
            conv2d(dy[(slice(n0, n1), *crop[1:])], sub, bias, 1, padding, phase_dilation, groups,
                   layout=layout, out=target)
        if strided:
            channels = result.shape[channel_axis]
            _core.interleave_phases(DTYPE_CODES[result.dtype], LAYOUT_CODES[layout], n1 - n0,
                                    channels, in_sizes[0], in_sizes[1], stride[0], stride[1],
                                    phases, result[n0:n1])
    return result


def _transposed_from_one_pixel(dy, weight, groups, pad_before, in_sizes, layout, bias, result):
    """The transposed convolution of a 1 x 1 gradient (global convolutions,
    e.g. GDC): input pixel (i, j) gets dy * w[..., i + pt, j + pl] alone,
    which is a grouped 1x1 convolution with (C/G * H * W) outputs per group
    rather than a depthwise convolution whose taps are almost all padding."""
    k, cg, r, s = weight.shape
    n, (h, w) = dy.shape[0], in_sizes
    kg, pt, pl = k // groups, pad_before[0], pad_before[1]
    if (pt, pl, h, w) == (0, 0, r, s):  # the kernel covers the input exactly
        window = weight
    else:
        window = np.zeros((k, cg, h, w), weight.dtype)  # taps past the kernel: zero
        rows, cols = min(h, r - pt), min(w, s - pl)
        if rows > 0 and cols > 0:
            window[:, :, :rows, :cols] = weight[:, :, pt:pt + rows, pl:pl + cols]
    if kg == 1 and cg == 1:
        # One product per output element (GDC): a plane of the window per
        # input value.
        return _core.scale_planes(DTYPE_CODES[result.dtype], LAYOUT_CODES[layout],
                                  kernel_ready(dy.reshape(n, k)),
                                  kernel_ready(window.reshape(k, h * w)), bias, result)
    # Output channel (g, c, i, j) of group g reads that group's kg gradients.
    wt = window.reshape(groups, kg, cg * h * w).transpose(0, 2, 1).reshape(
        groups * cg * h * w, kg, 1, 1)
    pixel_bias = None if bias is None else np.repeat(bias, h * w)
    flat = dy.reshape(n, k, 1, 1)  # NCHW and NHWC agree on a 1 x 1 image
    y = conv2d(flat, np.ascontiguousarray(wt), pixel_bias, groups=groups)
    planes = y.reshape(n, groups * cg, h, w)
    if layout == "NCHW":
        result[...] = planes
    else:
        result[...] = planes.transpose(0, 2, 3, 1)
    return result


def _batched(shape, layout):
    """(batched shape, unbatched?) for a 2-D data shape in ``layout``."""
    if len(shape) == 3:
        return (1,) + tuple(shape), True
    return tuple(shape), False


def conv2d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1,
                      groups=1, *, layout="NCHW"):
    """Gradient of a loss with respect to conv2d's input.

    As ``torch.nn.grad.conv2d_input``: ``grad_output`` is the gradient with
    respect to the convolution's (pre-activation) output, ``input_shape``
    the shape of its input, in ``layout`` (unbatched shapes work). Runs as a
    transposed convolution through gconv's forward planner and kernels;
    where a window reaches past the borders the zero padding of
    ``grad_output`` meets the weights (as padding does in the forward pass),
    so an infinite weight gives NaN there rather than Inf.

    Example:
        >>> import numpy as np, gconv
        >>> w = np.ones((4, 1, 3, 3), np.float32)                 # depthwise, 4 channels
        >>> dy = np.ones((2, 4, 5, 5), np.float32)
        >>> float(gconv.conv2d_input_grad((2, 4, 5, 5), w, dy, padding=1, groups=4)[0, 0, 2, 2])
        9.0
    """
    where = "conv2d_input_grad"
    input_shape = _shape_tuple(input_shape, "input_shape", where)
    weight = as_float_array(weight, "weight")
    grad_output = as_float_array(grad_output, "grad_output")
    check_same_dtype(where, weight=weight, grad_output=grad_output)
    params = conv_params(weight.shape, stride, padding, dilation, groups, layout, None, where)
    desc, out_shape, unbatched = params.descriptor(input_shape, weight.dtype, False)
    _check_grad_output(grad_output, out_shape, where)
    batched_shape, _ = _batched(input_shape, layout)
    result = _alloc.empty(batched_shape, weight.dtype)
    if result.size and weight.shape[0] == 0:
        result[...] = 0
    elif result.size:
        dy = grad_output[None] if unbatched else grad_output
        pt, pl = desc[10], desc[12]
        _transposed_conv(dy, weight, desc[3], params.stride, (pt, pl), params.dilation,
                         (desc[4], desc[5]), params.layout, None, result)
    return result[0] if unbatched else result


def conv2d_weight_grad(x, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1,
                       *, layout="NCHW"):
    """Gradient of a loss with respect to conv2d's weight.

    As ``torch.nn.grad.conv2d_weight``: ``x`` is the convolution's input and
    ``grad_output`` the gradient with respect to its (pre-activation)
    output, both in ``layout``; the result has ``weight_shape``
    (K, C // groups, R, S). Summed in a fixed order: the same bits for any
    thread count.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((2, 4, 5, 5), np.float32)
        >>> dy = np.ones((2, 8, 5, 5), np.float32)
        >>> gconv.conv2d_weight_grad(x, (8, 2, 3, 3), dy, padding=1, groups=2)[0, 0]
        array([[32., 40., 32.],
               [40., 50., 40.],
               [32., 40., 32.]], dtype=float32)
    """
    where = "conv2d_weight_grad"
    x = as_float_array(x, "input")
    grad_output = as_float_array(grad_output, "grad_output")
    check_same_dtype(where, input=x, grad_output=grad_output)
    weight_shape = _shape_tuple(weight_shape, "weight_shape", where)
    params = conv_params(weight_shape, stride, padding, dilation, groups, layout, None, where)
    desc, out_shape, _ = params.descriptor(x.shape, x.dtype, False)
    _check_grad_output(grad_output, out_shape, where)
    dw = np.empty(weight_shape, x.dtype)
    _core.conv2d_weight_grad(desc, kernel_ready(x), kernel_ready(grad_output), dw)
    return dw


def conv2d_backward(x, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                    layout="NCHW", needs=_NEEDS):
    """The gradients of conv2d with respect to input, weight and bias.

    Returns ``(grad_input, grad_weight, grad_bias)``; each is None unless
    named in ``needs`` (a subset of ``("input", "weight", "bias")``).
    ``grad_bias`` is ``grad_output`` summed over batch and space. Arguments
    as ``conv2d``; ``grad_output`` is the gradient of the pre-activation
    output.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((1, 4, 5, 5)); w = np.ones((4, 1, 3, 3))
        >>> dy = np.ones((1, 4, 3, 3))
        >>> gi, gw, gb = gconv.conv2d_backward(x, w, dy, groups=4)
        >>> gi.shape, gw.shape, gb
        ((1, 4, 5, 5), (4, 1, 3, 3), array([9., 9., 9., 9.]))
    """
    where = "conv2d_backward"
    if isinstance(needs, str):
        needs = (needs,)
    try:
        wanted = set(needs)
    except TypeError:
        raise TypeError(f"{where}: needs must be a tuple of names from {_NEEDS}, got {needs!r}") from None
    unknown = sorted(str(n) for n in wanted - set(_NEEDS))
    if unknown:
        raise ValueError(f"{where}: needs may only name {_NEEDS}, got {unknown}")
    x = as_float_array(x, "input")
    weight = as_float_array(weight, "weight")
    grad_output = as_float_array(grad_output, "grad_output")
    check_same_dtype(where, input=x, weight=weight, grad_output=grad_output)
    params = conv_params(weight.shape, stride, padding, dilation, groups, layout, None, where)
    _, out_shape, unbatched = params.descriptor(x.shape, x.dtype, False)
    _check_grad_output(grad_output, out_shape, where)
    args = (stride, padding, dilation, groups)
    grad_input = grad_weight = grad_bias = None
    if "input" in wanted:
        grad_input = conv2d_input_grad(x.shape, weight, grad_output, *args, layout=layout)
    if "weight" in wanted:
        grad_weight = conv2d_weight_grad(x, weight.shape, grad_output, *args, layout=layout)
    if "bias" in wanted:
        channel_axis = (0 if unbatched else 1) if params.layout == "NCHW" else grad_output.ndim - 1
        axes = tuple(a for a in range(grad_output.ndim) if a != channel_axis)
        # Summed in float64: a sum over N * OH * OW terms loses float32 digits.
        grad_bias = grad_output.sum(axis=axes, dtype=np.float64).astype(x.dtype)
    return grad_input, grad_weight, grad_bias


def _output_padding(value, stride, dilation, where):
    if isinstance(value, (list, tuple, np.ndarray)):
        items = tuple(value)
        if len(items) != 2:
            raise ValueError(f"{where}: output_padding must have 2 elements, got {value!r}")
        pads = tuple(_args.as_int(v, "output_padding") for v in items)
    else:
        pads = (_args.as_int(value, "output_padding"),) * 2
    for p, s, d in zip(pads, stride, dilation):
        if p < 0 or p >= max(s, d):
            raise ValueError(
                f"{where}: output_padding ({pads}) must be >= 0 and smaller than stride "
                f"({stride}) or dilation ({dilation})"
            )
    return pads


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layout="NCHW", out=None):
    """Transposed convolution, exactly ``torch.nn.functional.conv_transpose2d``.

    ``weight`` is (C_in, C_out // groups, R, S); the result has C_out
    channels and spatial size (H - 1) * stride - (pad_before + pad_after)
    + dilation * (R - 1) + output_padding + 1. ``padding`` is an int, one
    int per dim or one ``(before, after)`` pair per dim: that many rows and
    columns are cropped from each side of the full transposed output.
    ``output_padding`` (< max(stride, dilation)) adds rows/columns at the
    bottom/right. It is the input gradient of the convolution with the same
    weight, and runs through the same phase-split forward kernels.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((1, 4, 3, 3), np.float32)
        >>> w = np.ones((4, 2, 3, 3), np.float32)               # 4 -> 4 channels, 2 groups
        >>> gconv.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2).shape
        (1, 4, 6, 6)
    """
    where = "conv_transpose2d"
    x = as_float_array(x, "input")
    weight = as_float_array(weight, "weight")
    if bias is not None:
        bias = as_float_array(bias, "bias")
    check_same_dtype(where, input=x, weight=weight, bias=bias)
    layout = _args.check_layout(layout)
    groups = _args.as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"{where}: groups must be >= 1, got {groups}")
    if weight.ndim != 4:
        raise ValueError(
            f"{where}: weight must be 4-D (in_channels, out_channels // groups, kH, kW), "
            f"got shape {weight.shape}"
        )
    c_in, kg, kh, kw = weight.shape
    if min(kg, kh, kw) < 1:
        raise ValueError(f"{where}: weight shape {weight.shape} has an empty dimension")
    if x.ndim not in (3, 4):
        raise ValueError(f"{where}: input must be 4-D ({layout}) or 3-D (unbatched), got shape {x.shape}")
    unbatched = x.ndim == 3
    xb = x[None] if unbatched else x
    axes = _spatial_axes(layout)
    channels = xb.shape[1 if layout == "NCHW" else 3]
    if channels % groups:
        raise ValueError(f"{where}: in_channels ({channels}) must be divisible by groups ({groups})")
    if channels != c_in:
        raise ValueError(
            f"{where}: input has {channels} channels but weight.shape[0] is {c_in} "
            f"(weight is (in_channels, out_channels // groups, kH, kW))"
        )
    c_out = kg * groups
    if bias is not None:
        check_bias_shape(where, bias, c_out)
        bias = kernel_ready(bias)
    stride = _args.spatial_tuple(stride, "stride")
    dilation = _args.spatial_tuple(dilation, "dilation")
    if isinstance(padding, str) and padding != "valid":
        raise ValueError(f"{where}: padding must be an int, a tuple or 'valid', got {padding!r}")
    pads = _args.resolve_padding(padding, (1, 1), (kh, kw), stride, dilation)
    op = _output_padding(output_padding, stride, dilation, where)
    sizes = []
    for d, k in enumerate((kh, kw)):
        size = xb.shape[axes[d]]
        full = (size - 1) * stride[d] + dilation[d] * (k - 1) + 1 + op[d]
        cropped = full - pads[d][0] - pads[d][1]
        if size < 1 or cropped < 1:
            raise ValueError(
                f"{where}: output size {'HW'[d]} = {full} - {pads[d][0]} - {pads[d][1]} = "
                f"{cropped} must be >= 1 (input size {size})"
            )
        sizes.append(cropped)
    n = xb.shape[0]
    shape = (n, c_out, *sizes) if layout == "NCHW" else (n, *sizes, c_out)
    _args.checked_product(shape + (8,), f"{where}: output")
    result_shape = shape[1:] if unbatched else shape
    if out is not None:
        check_out(out, result_shape, weight.dtype, where)
    # Into out directly unless it overlaps an argument (the kernels read
    # them while writing the result) or is misaligned.
    direct = out is not None and out.flags.aligned and not any(
        np.may_share_memory(out, a) for a in (x, weight, bias) if a is not None)
    result = out.reshape(shape) if direct else _alloc.empty(shape, weight.dtype)
    if result.size:
        # The forward convolution this is the adjoint of has weight (C_in, C_out/G, R, S).
        _transposed_conv(kernel_ready(xb), kernel_ready(weight), groups, stride,
                         (pads[0][0], pads[1][0]), dilation, sizes, layout, bias, result)
    if direct:
        return out
    result = result[0] if unbatched else result
    if out is not None:
        np.copyto(out, result)
        return out
    return result
