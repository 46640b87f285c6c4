"""conv1d and conv3d on the conv2d planner and kernels.

* conv1d is a conv2d with a unit height: (N, C, L) viewed as (N, C, 1, L)
  (NLC as (N, 1, L, C)), no copy. Height 1 rather than width 1 because the
  kernels vectorise along a row: measured with 2 threads (AVX2), a depthwise
  k=3 conv over L=1024 ran 20x faster with H=1 than W=1 in NCHW and 2x in
  NHWC; a dense k=3 conv 3x faster in NCHW and the same in NHWC.
* conv3d folds the depth taps into the channels: output depth slice ``od``
  needs input slices ``od*sd + kd*dd - pad_front`` for ``kd < KD``; stacked
  per group as ``(g, kd, c)`` they make the input of one grouped conv2d
  over a batch of N*OD images with G*KD*Cg channels, whose weight is the 3-D
  weight with its depth taps moved next to its input channels,
  (K, KD*Cg, R, S). The stack is built in blocks of output slices so that
  it never holds more than ``_STACK_BYTES``. Measured (1 thread, AVX2,
  3x3x3, 16-64 channels) a dense or grouped conv3d takes 0.95-1.5x the
  time of the conv2d with the same multiply-adds; the rest is the stacking
  copy.
* Depthwise conv3d (one input channel per group) is not folded: that would
  make it a grouped conv with kD channels per group and lose the depthwise
  kernels. With multiplier 1 it has kernels of its own
  (src/cpu/depthwise/dwconv3d.inl: every output summed over all its taps
  at once; 0.55-0.99x (NCDHW) and 0.62-0.95x (NDHWC) the time of the same
  multiply-adds as one depthwise conv2d). What they decline (a multiplier,
  NCDHW with a column stride > 1, more than 64 depth-tap x kernel-row
  pairs) is the sum over depth taps of one depthwise conv2d each
  (``_conv3d_depthwise_by_taps``), except in NCDHW with a depth stride > 1
  or fewer output than half the input slices; measured 1.5-2.3x the time
  of those kD depthwise conv2d's alone (the folded form took 2-3.5x).

Arguments are validated here, for the N-d shapes the caller gave, before the
mapped conv2d runs, so every message names the caller's own shapes.
"""

import numpy as np

from . import _alloc, _args, _core
from ._api import _convolve, _result_array
from ._conv_spec import (ACTIVATION_CODES, DTYPE_CODES, ConvSpec, as_float_array,
                         check_bias_shape, check_group_channels, check_same_dtype, kernel_ready,
                         split_batch)
from ._padding_mode import check_padding_mode, pad_input

# The stacked depth taps of one block; a block is at least one output slice.
_STACK_BYTES = 256 << 20

_DIM_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_KERNEL_NAMES = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}


class _Call:
    """A validated conv1d/conv3d call (batched view of the input, output shape)."""

    __slots__ = ("where", "x", "weight", "bias", "stride", "pads", "dilation", "groups",
                 "layout", "activation", "out_spatial", "out_shape", "unbatched")

    def __init__(self, where, spatial_dims, x, weight, bias, stride, padding, dilation, groups,
                 layout, activation, padding_mode):
        nd = spatial_dims
        self.where = where
        padding_mode = check_padding_mode(padding_mode, where)
        self.layout = _args.check_layout(layout, nd)
        self.activation = _args.check_activation(activation)
        weight = as_float_array(weight, "weight")
        self.groups = g = _args.as_int(groups, "groups")
        if g < 1:
            raise ValueError(f"{where}: groups must be >= 1, got {g}")
        if weight.ndim != nd + 2:
            raise ValueError(
                f"{where}: weight must be {nd + 2}-D (out_channels, in_channels // groups, "
                f"{_KERNEL_NAMES[nd]}), got shape {weight.shape}"
            )
        k, cg, kernel = weight.shape[0], weight.shape[1], weight.shape[2:]
        if k % g:
            raise ValueError(
                f"{where}: out_channels (weight.shape[0] = {k}) must be divisible by groups ({g})"
            )
        if cg < 1 or min(kernel) < 1:
            raise ValueError(f"{where}: weight shape {weight.shape} has an empty dimension")
        self.stride = _args.spatial_tuple(stride, "stride", nd)
        self.dilation = _args.spatial_tuple(dilation, "dilation", nd)
        # Validates the padding's form before the input is looked at.
        _args.resolve_padding(padding, (1,) * nd, kernel, self.stride, self.dilation)
        if bias is not None:
            bias = as_float_array(bias, "bias")
            check_bias_shape(where, bias, k)
        x = as_float_array(x, "input")
        check_same_dtype(where, input=x, weight=weight, bias=bias)
        n, c, spatial, self.unbatched = split_batch(x, self.layout, where, nd)
        check_group_channels(where, c, g, weight.shape, x.shape)
        pads = _args.resolve_padding(padding, spatial, kernel, self.stride, self.dilation)
        self.out_spatial = tuple(
            _args.output_size(size, kk, s, pad, d, f"{where}: {name}")
            for size, kk, s, pad, d, name in zip(spatial, kernel, self.stride, pads,
                                                 self.dilation, _DIM_NAMES[nd]))
        self.out_shape = ((k,) + self.out_spatial if self.layout.startswith("NC")
                          else self.out_spatial + (k,))
        if not self.unbatched:
            self.out_shape = (n,) + self.out_shape
        _args.checked_product(x.shape + (8,), f"{where}: input")
        _args.checked_product(self.out_shape + (8,), f"{where}: output")
        if padding_mode != "zeros":
            x = pad_input(x, pads, padding_mode, self.layout, where)
            pads = ((0, 0),) * nd
        self.x = x[np.newaxis] if self.unbatched else x
        self.weight, self.bias, self.pads = weight, bias, pads

    def result(self, out):
        """``out`` checked (or a new array), and its batched view."""
        result = _result_array(out, self.out_shape, self.weight.dtype, self.where)
        batched = result[np.newaxis] if self.unbatched else result
        return result, batched


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCL",
           activation=None, out=None, padding_mode="zeros"):
    """1-D cross-correlation with groups, exactly ``torch.nn.functional.conv1d``.

    Shapes (NCL): ``x`` (N, C, L) or unbatched (C, L); ``weight``
    (K, C // groups, kL); ``bias`` (K,); result (N, K, OL). With
    ``layout="NLC"`` the input is (N, L, C) and the result (N, OL, K).
    ``stride``, ``dilation``: int or 1-tuple. ``padding``: int, 1-tuple, one
    ``(before, after)`` pair in a tuple (``((2, 1),)``), ``"valid"`` or
    ``"same"`` (output = ceil(L / stride), odd pad after). ``activation``
    and ``out`` as in :func:`gconv.conv2d`; ``padding_mode`` (``"zeros"``,
    ``"reflect"``, ``"replicate"``, ``"circular"``) as ``torch.nn.Conv1d``.
    Runs as a conv2d of height 1 on gconv's kernels.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((2, 4, 10), np.float32)
        >>> w = np.ones((8, 2, 3), np.float32)          # 2 groups of 2 channels
        >>> gconv.conv1d(x, w, groups=2, padding="same").shape
        (2, 8, 10)
    """
    call = _Call("conv1d", 1, x, weight, bias, stride, padding, dilation, groups, layout,
                 activation, padding_mode)
    result, batched = call.result(out)
    x = call.x
    k, cg, kl = call.weight.shape
    n, ol = batched.shape[0], call.out_spatial[0]
    if call.layout == "NCL":
        x4 = x.reshape(n, x.shape[1], 1, x.shape[2])
        y4 = batched.reshape(n, k, 1, ol)
        layout2 = "NCHW"
    else:
        x4 = x.reshape(n, 1, x.shape[1], x.shape[2])
        y4 = batched.reshape(n, 1, ol, k)
        layout2 = "NHWC"
    spec = ConvSpec(call.weight.reshape(k, cg, 1, kl), call.bias, (1,) + call.stride,
                    ((0, 0),) + call.pads, (1,) + call.dilation, call.groups, layout2,
                    call.activation, "conv1d")
    _convolve(spec, x4, y4)
    return result


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCDHW", activation=None, out=None, padding_mode="zeros"):
    """3-D cross-correlation with groups, exactly ``torch.nn.functional.conv3d``.

    Shapes (NCDHW): ``x`` (N, C, D, H, W) or unbatched (C, D, H, W);
    ``weight`` (K, C // groups, kD, kH, kW); ``bias`` (K,); result
    (N, K, OD, OH, OW). With ``layout="NDHWC"`` the input is (N, D, H, W, C)
    and the result (N, OD, OH, OW, K). ``stride``, ``dilation``: int or
    3-tuple; ``padding``: every form of :func:`gconv.conv2d`, with three
    spatial dims. ``activation``, ``out`` as in conv2d; ``padding_mode`` as
    ``torch.nn.Conv3d``.

    Runs as one grouped conv2d per block of output depth slices, with the
    kD input slices each output slice reads stacked as channels (at most
    256 MiB stacked at a time); depthwise conv3d (multiplier 1) has kernels
    of its own.

    Example:
        >>> import numpy as np, gconv
        >>> x = np.ones((1, 4, 6, 8, 8), np.float32)
        >>> w = np.ones((4, 1, 3, 3, 3), np.float32)    # depthwise
        >>> y = gconv.conv3d(x, w, groups=4, padding=1)
        >>> y.shape, float(y[0, 0, 2, 3, 3])
        ((1, 4, 6, 8, 8), 27.0)
    """
    call = _Call("conv3d", 3, x, weight, bias, stride, padding, dilation, groups, layout,
                 activation, padding_mode)
    result, batched = call.result(out)
    if result.size == 0:
        return result
    target = batched
    if any(a is not None and np.may_share_memory(result, a)
           for a in (call.x, call.weight, call.bias)):
        target = _alloc.empty(batched.shape, batched.dtype)
    depthwise = call.weight.shape[1] == 1 and call.weight.shape[2] > 1
    # NCDHW convolves every input slice for every tap: only when most are used.
    every_slice = call.stride[0] == 1 and 2 * call.out_spatial[0] >= call.x.shape[2]
    if depthwise and call.weight.shape[0] == call.groups and _core.depthwise_conv3d(
            DTYPE_CODES[target.dtype], 1 if call.layout == "NDHWC" else 0,
            kernel_ready(call.x), kernel_ready(call.weight),
            None if call.bias is None else kernel_ready(call.bias), target, call.stride,
            tuple(pad[0] for pad in call.pads), call.dilation,
            ACTIVATION_CODES[call.activation]):
        pass  # multiplier 1: every output summed over all its taps at once
    elif depthwise and (call.layout == "NDHWC" or every_slice):
        _conv3d_depthwise_by_taps(call, target)
    else:
        _conv3d_folded(call, target)
    if target is not batched:
        np.copyto(batched, target)
    return result


def _conv3d_folded(call, target):
    """conv3d of ``call`` written into ``target`` (batched, in the call's layout)."""
    x, weight, g = call.x, call.weight, call.groups
    k, cg, kd, r, s = weight.shape
    od, oh, ow = call.out_spatial
    ndhwc = call.layout == "NDHWC"
    n, c, (_, h, w), _ = split_batch(x, call.layout, "conv3d", 3)
    # Input channel kd*Cg + c of a group in the folded weight is tap kd of channel c.
    folded = weight.transpose(0, 2, 1, 3, 4).reshape(k, kd * cg, r, s)
    spec = ConvSpec(folded, call.bias, call.stride[1:], call.pads[1:], call.dilation[1:], g,
                    "NHWC" if ndhwc else "NCHW", call.activation, "conv3d")
    plans = {}
    depth = _DepthTaps(x, ndhwc, g, kd, call.stride[0], call.dilation[0], call.pads[0][0], od)
    rows = max(1, _STACK_BYTES // (kd * c * h * w * x.dtype.itemsize))
    # The first block is the largest: later ones reuse its memory (a fresh
    # 256 MiB array per block would cost its page faults every time).
    y_buffer = None
    for n0, n1, o0, o1 in _blocks(n, od, rows):
        stacked = depth.stack(n0, n1, o0, o1)
        if ndhwc:
            # (n0:n1, o0:o1) is either one image or whole images: a contiguous piece.
            block = target[n0:n1, o0:o1].reshape(-1, oh, ow, k)
            _convolve(spec, stacked, block, plan_cache=plans)
        else:
            nb, ob = n1 - n0, o1 - o0
            if y_buffer is None:
                y_buffer = _alloc.empty((nb * ob * k * oh * ow,), x.dtype)
            y = y_buffer[:nb * ob * k * oh * ow].reshape(nb * ob, k, oh, ow)
            _convolve(spec, stacked, y, plan_cache=plans)
            target[n0:n1, :, o0:o1] = y.reshape(nb, ob, k, oh, ow).transpose(0, 2, 1, 3, 4)


def _conv3d_depthwise_by_taps(call, target):
    """Depthwise conv3d as the sum over depth taps of depthwise conv2d's.

    Folding would make a depthwise conv a grouped one with kD channels per
    group, which the depthwise kernels do not take. Here each tap is one
    depthwise conv2d: over the input slices it reads as a batch of images
    (NDHWC), or over every slice at once as C*D channels of one image
    (NCDHW, stride 1 in depth: no copy of the input at all).
    """
    x, weight = call.x, call.weight
    k, _, kd, r, s = weight.shape
    c = call.groups
    m = k // c
    od, oh, ow = call.out_spatial
    sd, dd, pad_front = call.stride[0], call.dilation[0], call.pads[0][0]
    ndhwc = call.layout == "NDHWC"
    n = x.shape[0]
    d = x.shape[1] if ndhwc else x.shape[2]
    if not ndhwc:
        images = x.reshape(n, c * d, x.shape[3], x.shape[4])
        sums = target.reshape(n, c, m, od, oh, ow)
    ranges = []
    for tap in range(kd):
        offset = tap * dd - pad_front
        lo = min(max(0, -(offset // sd)), od)
        hi = max(min(od, (d - 1 - offset) // sd + 1), lo)
        if hi > lo:
            # Whether this tap's convolution can be the target itself: it
            # reaches every output slice, and (NCDHW) its C*D-channel image
            # is exactly the target's slices in order.
            whole = lo == 0 and hi == od and (ndhwc or (m == 1 and offset == 0 and d == od))
            ranges.append((not whole, tap, offset, lo, hi))
    # A tap that covers the target writes it first, bias included: one pass
    # over the result fewer than zeroing it and adding every tap.
    ranges.sort()
    written = False
    for partial, tap, offset, lo, hi in ranges:
        taps = weight[:, :, tap]
        if ndhwc:
            depths = slice(lo * sd + offset, (hi - 1) * sd + offset + 1, sd)
            images = x[:, depths]
            images = images.reshape((-1,) + images.shape[2:])
            groups = c
            bias = call.bias
        else:
            # Channel (c, slice, j) of the C*D-channel image uses filter c*m + j.
            taps = np.broadcast_to(taps.reshape(c, 1, m, 1, r, s), (c, d, m, 1, r, s))
            taps = taps.reshape(c * d * m, 1, r, s)
            groups = c * d
            bias = None if call.bias is None else np.ascontiguousarray(
                np.broadcast_to(call.bias.reshape(c, 1, m), (c, d, m)).ravel())
        if not written and not partial:
            spec = ConvSpec(taps, bias, call.stride[1:], call.pads[1:], call.dilation[1:], groups,
                            "NHWC" if ndhwc else "NCHW", None, "conv3d")
            out = target.reshape((n * od, oh, ow, k) if ndhwc else (n, c * d, oh, ow))
            _convolve(spec, images, out)
            written = True
            continue
        if not written:
            if call.bias is None:
                target[...] = 0
            else:
                target[...] = call.bias.reshape((k,) if ndhwc else (k, 1, 1, 1))
            written = True
        spec = ConvSpec(taps, None, call.stride[1:], call.pads[1:], call.dilation[1:], groups,
                        "NHWC" if ndhwc else "NCHW", None, "conv3d")
        y = _convolve(spec, images, None)
        if ndhwc:
            target[:, lo:hi] += y.reshape(n, hi - lo, oh, ow, k)
        else:
            y = y.reshape(n, c, d, m, oh, ow)[:, :, lo + offset:hi + offset]
            sums[:, :, :, lo:hi] += y.transpose(0, 1, 3, 2, 4, 5)
    if not written:  # no tap reaches any output slice
        if call.bias is None:
            target[...] = 0
        else:
            target[...] = call.bias.reshape((k,) if ndhwc else (k, 1, 1, 1))
    _activate_in_place(target, call.activation)


def _activate_in_place(y, activation):
    # np.maximum and np.minimum keep NaN, as the fused kernels do.
    if activation is not None:
        np.maximum(y, 0, out=y)
    if activation == "relu6":
        np.minimum(y, 6, out=y)


def _blocks(n, od, rows):
    """(n0, n1, o0, o1) blocks of at most ``rows`` (image, output slice) pairs:
    whole images when one fits, else slices of one image."""
    if rows >= od:
        per = rows // od
        for n0 in range(0, n, per):
            yield n0, min(n, n0 + per), 0, od
    else:
        for n0 in range(n):
            for o0 in range(0, od, rows):
                yield n0, n0 + 1, o0, min(od, o0 + rows)


class _DepthTaps:
    """Builds the folded conv2d input: for each (image, output slice), the kD
    input slices it reads, zero where they fall in the depth padding."""

    def __init__(self, x, ndhwc, groups, kd, stride, dilation, pad_front, od):
        self.x, self.ndhwc, self.groups, self.kd = x, ndhwc, groups, kd
        self.stride, self.dilation, self.pad_front, self.od = stride, dilation, pad_front, od
        self.buffer = None

    def stack(self, n0, n1, o0, o1):
        x, g, kd, sd = self.x, self.groups, self.kd, self.stride
        nb, ob = n1 - n0, o1 - o0
        if self.ndhwc:
            _, d, h, w, c = x.shape
            if kd == 1 and sd == 1 and self.pad_front == 0 and self.od == d:
                return x[n0:n1, o0:o1].reshape(nb * ob, h, w, c)
            stacked = self._empty((nb, ob, h, w, g, kd, c // g))
        else:
            _, c, d, h, w = x.shape
            stacked = self._empty((nb, ob, g, kd, c // g, h, w))
        _core.stack_depth_taps(DTYPE_CODES[x.dtype], 1 if self.ndhwc else 0,
                               kernel_ready(x[n0:n1]), g, kd, sd, self.dilation,
                               self.pad_front, o0, stacked)
        if self.ndhwc:
            return stacked.reshape(nb * ob, h, w, g * kd * (c // g))
        return stacked.reshape(nb * ob, g * kd * (c // g), h, w)

    def _empty(self, shape):
        """An uninitialised array of ``shape`` in memory shared by every block."""
        size = int(np.prod(shape))
        if self.buffer is None:
            self.buffer = _alloc.empty((size,), self.x.dtype)
        return self.buffer[:size].reshape(shape)
