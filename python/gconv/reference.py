"""float64 NumPy reference of every gconv operation: this module *is* the semantics.

Every fast path of gconv (each algorithm, each instruction set, each thread
count) is tested against the functions here. They favour being obviously
right over being fast:

* Everything is computed in float64, whatever the input dtype, and returned
  as float64. The caller compares with a tolerance (DESIGN.md, "Numbers").
* A convolution is a plain sum of products over the padded input:
  ``y[n, k, i, j] = sum_{c, r, s} xpad[n, c, i*sh + r*dh, j*sw + s*dw] * w[k, c, r, s]``
  (cross-correlation, as ``torch.nn.functional.conv2d``; 1-D and 3-D alike).
  It is evaluated one kernel tap at a time with ``np.einsum`` (NumPy's own
  loops, no BLAS and no FFT), so NaN and Inf behave exactly as in that sum:
  a NaN or Inf in the input reaches every output whose window holds it, and
  zero-padded positions contribute ``0 * w`` (0 for a finite weight).
* ``padding_mode`` says what the padded positions hold: ``"zeros"``, or
  ``"reflect"`` / ``"replicate"`` / ``"circular"``, where padded position
  ``i`` (``i < 0`` or ``i >= size``) reads input position ``|i|`` mirrored
  at the last element, ``clip(i, 0, size - 1)``, or ``i mod size``
  (``torch.nn.Conv2d``'s modes, with ``F.pad``'s limits: reflect needs each
  pad < size, circular <= size).
* The bias is added after the sum, then the activation: ``"relu"`` is
  ``max(y, 0)`` and ``"relu6"`` is ``min(max(y, 0), 6)``, both keep NaN.
* Channels-last data (NLC, NHWC, NDHWC) is moved to channels-first,
  computed, and moved back; weights are always in PyTorch's layout
  ``(out_channels, in_channels // groups, *kernel)``.
* An unbatched input (one dim fewer) gives an unbatched output; a batch of 0
  gives an empty result of the right shape.
* The gradients and the transposed convolution are written from the same
  definition read backwards: each tap's window of the forward is
  scatter-added into the input gradient, and the weight gradient is the
  einsum of the gradient with each tap's window. They do not call the
  forward code, so they are an independent oracle for it.

Arguments take the same forms as the public functions (no ``out=``, no
``force_algorithm``); they are normalised by ``gconv._args`` so the reference
and the library can never disagree on what an argument means.
"""

import itertools

import numpy as np

from ._args import (as_int, check_activation, check_layout, output_size, resolve_padding,
                    spatial_tuple)
from ._padding_mode import check_pads, check_padding_mode

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "depthwise_conv2d",
    "global_depthwise_conv2d",
    "global_avg_pool2d",
    "channel_shuffle",
    "block_diagonal",
    "conv_transpose2d",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "conv2d_backward",
    "interleaved_group_conv",
    "shuffle_unit",
]

def _count(value, name):
    """A positive int (``groups``): bool and non-integers are TypeError."""
    value = as_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _channels_first(x, layout, spatial_dims):
    """float64 (N, C, *spatial) view of ``x`` and whether it was unbatched."""
    x = np.asarray(x).astype(np.float64, copy=False)
    ndim = spatial_dims + 2
    if x.ndim not in (ndim - 1, ndim):
        raise ValueError(f"input must be {ndim - 1}-D (unbatched) or {ndim}-D, "
                         f"got {x.ndim}-D shape {x.shape}")
    unbatched = x.ndim == ndim - 1
    if unbatched:
        x = x[np.newaxis]
    if not layout.startswith("NC"):
        x = np.moveaxis(x, -1, 1)
    return x, unbatched


def _from_channels_first(y, layout, unbatched):
    if not layout.startswith("NC"):
        y = np.moveaxis(y, 1, -1)
    if unbatched:
        y = y[0]
    return np.ascontiguousarray(y)


def _as_nchw(x, layout):
    return _channels_first(x, layout, 2)


def _from_nchw(y, layout, unbatched):
    return _from_channels_first(y, layout, unbatched)


def _activate(y, activation):
    if activation is None:
        return y
    # np.maximum/np.minimum propagate NaN, which is the documented behaviour.
    y = np.maximum(y, 0.0)
    if activation == "relu6":
        y = np.minimum(y, 6.0)
    return y


def _source_index(positions, size, padding_mode):
    """Input index each padded position reads, for the non-zero padding modes."""
    if padding_mode == "reflect":
        mirrored = np.abs(positions)
        return np.where(mirrored >= size, 2 * (size - 1) - mirrored, mirrored)
    if padding_mode == "replicate":
        return np.clip(positions, 0, size - 1)
    return positions % size


def _pad(x, pads, padding_mode):
    """Channels-first ``x`` padded on its spatial dims by ``pads`` in ``padding_mode``."""
    if padding_mode == "zeros":
        return np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    check_pads(pads, x.shape[2:], padding_mode, "reference")
    for axis, ((before, after), size) in enumerate(zip(pads, x.shape[2:]), start=2):
        positions = np.arange(-before, size + after)
        x = np.take(x, _source_index(positions, size, padding_mode), axis=axis)
    return x


def _check_groups(x_shape, weight_shape, groups):
    """The channel rules shared by every grouped convolution (channels-first shapes)."""
    c, k, cg = x_shape[1], weight_shape[0], weight_shape[1]
    if c % groups:
        raise ValueError(f"in_channels ({c}) must be divisible by groups ({groups})")
    if k % groups:
        raise ValueError(f"out_channels ({k}) must be divisible by groups ({groups})")
    if cg * groups != c:
        raise ValueError(
            f"Given groups={groups}, weight of size {list(weight_shape)}, expected input"
            f"{list(x_shape)} to have {cg * groups} channels, but got {c} channels instead")


def _window(tap, dilation, out_sizes, stride):
    """The slices of the padded input that kernel tap ``tap`` multiplies."""
    return tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                 for t, d, o, s in zip(tap, dilation, out_sizes, stride))


def _geometry(x_shape, weight_shape, stride, padding, dilation, groups):
    """(stride, dilation, pads, output sizes) of a convolution, validated;
    shapes are channels-first and batched."""
    nd = len(x_shape) - 2
    if len(weight_shape) != nd + 2:
        raise ValueError(f"weight must be {nd + 2}-D (out_channels, in_channels/groups, kernel), "
                         f"got shape {tuple(weight_shape)}")
    spatial, kernel = tuple(x_shape[2:]), tuple(weight_shape[2:])
    if x_shape[1] < 1 or min(spatial) < 1:
        raise ValueError(f"input channels and spatial sizes must be >= 1, got input shape {tuple(x_shape)}")
    if weight_shape[1] < 1 or min(kernel) < 1:
        raise ValueError(f"weight sizes must be >= 1 (except out_channels), got weight shape "
                         f"{tuple(weight_shape)}")
    _check_groups(x_shape, weight_shape, groups)
    stride = spatial_tuple(stride, "stride", nd)
    dilation = spatial_tuple(dilation, "dilation", nd)
    pads = resolve_padding(padding, spatial, kernel, stride, dilation)
    names = ("depth", "height", "width")[3 - nd:] if nd > 1 else ("length",)
    out = tuple(output_size(size, k, s, p, d, f"output {name}")
                for size, k, s, p, d, name in zip(spatial, kernel, stride, pads, dilation, names))
    return stride, dilation, pads, out


def _conv(x, weight, bias, stride, padding, dilation, groups, activation, padding_mode):
    """The convolution of a float64 channels-first batch ``x`` (any spatial rank)."""
    weight = np.asarray(weight).astype(np.float64, copy=False)
    stride, dilation, pads, out = _geometry(x.shape, weight.shape, stride, padding, dilation,
                                            groups)
    n, c = x.shape[:2]
    k, cg = weight.shape[:2]
    if bias is not None:
        bias = np.asarray(bias).astype(np.float64, copy=False)
        if bias.shape != (k,):
            raise ValueError(f"bias must have shape ({k},), got {bias.shape}")
    xp = _pad(x, pads, padding_mode)
    xg = xp.reshape((n, groups, cg) + xp.shape[2:])
    wg = weight.reshape((groups, k // groups, cg) + weight.shape[2:])
    y = np.zeros((n, groups, k // groups) + out)
    for tap in itertools.product(*(range(size) for size in weight.shape[2:])):
        window = xg[(slice(None),) * 3 + _window(tap, dilation, out, stride)]
        y += np.einsum("ngc...,gkc->ngk...", window, wg[(Ellipsis,) + tap])
    y = y.reshape((n, k) + out)
    if bias is not None:
        y += bias.reshape((k,) + (1,) * len(out))
    return _activate(y, activation)


def _convnd(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout,
            activation, padding_mode):
    layout = check_layout(layout, spatial_dims)
    activation = check_activation(activation)
    padding_mode = check_padding_mode(padding_mode, "reference")
    groups = _count(groups, "groups")
    xc, unbatched = _channels_first(x, layout, spatial_dims)
    y = _conv(xc, weight, bias, stride, padding, dilation, groups, activation, padding_mode)
    return _from_channels_first(y, layout, unbatched)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCL", activation=None, padding_mode="zeros"):
    """Grouped 1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``
    (``padding_mode`` as ``torch.nn.Conv1d``).

    x: (N, C, L), (N, L, C) for NLC, or either without N. weight: (K, C // groups, kL).
    Returns float64 (N, K, OL) (NLC: (N, OL, K)).

    >>> import numpy as np
    >>> from gconv import reference
    >>> reference.conv1d(np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 2)))
    array([[[1., 3., 5., 7.]]])
    >>> reference.conv1d(np.arange(3.0).reshape(1, 1, 3), np.ones((1, 1, 3)), padding=1,
    ...                  padding_mode="circular")
    array([[[3., 3., 3.]]])
    """
    return _convnd(1, x, weight, bias, stride, padding, dilation, groups, layout, activation,
                   padding_mode)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCHW", activation=None, padding_mode="zeros"):
    """Grouped 2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``
    (``padding_mode`` as ``torch.nn.Conv2d``).

    x: (N, C, H, W), (N, H, W, C) for NHWC, or either without N (unbatched).
    weight: (K, C // groups, R, S), bias: (K,) or None.
    Returns float64 (N, K, OH, OW) (NHWC: (N, OH, OW, K)), with
    ``OH = (H + pad_top + pad_bottom - dilation*(R-1) - 1) // stride + 1``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.ones((1, 4, 5, 5), np.float32)
    >>> w = np.ones((6, 2, 3, 3), np.float32)          # 2 groups of 2 -> 3 channels
    >>> reference.conv2d(x, w, groups=2, padding=1)[0, :, 2, 2]
    array([18., 18., 18., 18., 18., 18.])
    """
    return _convnd(2, x, weight, bias, stride, padding, dilation, groups, layout, activation,
                   padding_mode)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           layout="NCDHW", activation=None, padding_mode="zeros"):
    """Grouped 3-D convolution (cross-correlation), as ``torch.nn.functional.conv3d``
    (``padding_mode`` as ``torch.nn.Conv3d``).

    x: (N, C, D, H, W), (N, D, H, W, C) for NDHWC, or either without N.
    weight: (K, C // groups, kD, kH, kW). Returns float64 (N, K, OD, OH, OW).

    >>> import numpy as np
    >>> from gconv import reference
    >>> y = reference.conv3d(np.ones((1, 2, 3, 3, 3)), np.ones((4, 1, 3, 3, 3)), groups=2,
    ...                      padding=1)
    >>> y.shape, float(y[0, 0, 1, 1, 1]), float(y[0, 0, 0, 0, 0])
    ((1, 4, 3, 3, 3), 27.0, 8.0)
    """
    return _convnd(3, x, weight, bias, stride, padding, dilation, groups, layout, activation,
                   padding_mode)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *,
                     layout="NCHW", activation=None, padding_mode="zeros"):
    """Depthwise convolution: ``conv2d(x, weight, ..., groups=C)``.

    weight: (C * m, 1, R, S) for depth multiplier m; output channel ``c*m + j``
    reads input channel ``c``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.arange(2 * 3 * 3, dtype=np.float64).reshape(1, 2, 3, 3)
    >>> w = np.ones((4, 1, 3, 3))                      # multiplier 2
    >>> reference.depthwise_conv2d(x, w).ravel()
    array([ 36.,  36., 117., 117.])
    """
    layout = check_layout(layout)
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"input must be 3-D (unbatched) or 4-D, got {x.ndim}-D shape {x.shape}")
    channels = x.shape[-1] if layout == "NHWC" else x.shape[-3]
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError(f"depthwise weight must have shape (C*m, 1, R, S), got {weight.shape}")
    return conv2d(x, weight, bias, stride, padding, dilation, channels,
                  layout=layout, activation=activation, padding_mode=padding_mode)


def global_depthwise_conv2d(x, weight, bias=None, *, layout="NCHW"):
    """Global depthwise convolution (GDC): one weight per channel and position.

    weight: (C * m, 1, H, W), the input's own spatial size. Returns
    (N, C*m, 1, 1) ((N, 1, 1, C*m) for NHWC); equal to
    ``conv2d(x, weight, bias, groups=C)`` with no padding.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.ones((2, 3, 4, 4))
    >>> reference.global_depthwise_conv2d(x, np.full((3, 1, 4, 4), 0.5)).shape
    (2, 3, 1, 1)
    """
    layout = check_layout(layout)
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"input must be 3-D (unbatched) or 4-D, got {x.ndim}-D shape {x.shape}")
    spatial = x.shape[-3:-1] if layout == "NHWC" else x.shape[-2:]
    weight = np.asarray(weight)
    if weight.ndim != 4 or weight.shape[1] != 1 or tuple(weight.shape[2:]) != tuple(spatial):
        raise ValueError(f"global depthwise weight must have shape (C*m, 1, {spatial[0]}, "
                         f"{spatial[1]}), got {weight.shape}")
    return depthwise_conv2d(x, weight, bias, layout=layout)


def global_avg_pool2d(x, *, layout="NCHW"):
    """Mean over the spatial dims: (N, C, 1, 1) ((N, 1, 1, C) for NHWC).

    Equal to ``global_depthwise_conv2d`` with every weight ``1/(H*W)``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> reference.global_avg_pool2d(np.arange(8.0).reshape(1, 2, 2, 2)).ravel()
    array([1.5, 5.5])
    """
    layout = check_layout(layout)
    xn, unbatched = _as_nchw(x, layout)
    if min(xn.shape[1:]) < 1:
        raise ValueError(f"input channels and spatial sizes must be >= 1, got input shape {np.shape(x)}")
    y = xn.mean(axis=(2, 3), keepdims=True)
    return _from_nchw(y, layout, unbatched)


def channel_shuffle(x, groups, *, layout="NCHW"):
    """ShuffleNet's channel permutation: channels viewed as (groups, C // groups),
    transposed, flattened. Output channel ``j*groups + i`` is input channel
    ``i*(C//groups) + j``. Shuffling with ``g`` then with ``C // g`` is the identity.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.arange(6.0).reshape(1, 6, 1, 1)
    >>> reference.channel_shuffle(x, 2).ravel()
    array([0., 3., 1., 4., 2., 5.])
    """
    layout = check_layout(layout)
    groups = _count(groups, "groups")
    xn, unbatched = _as_nchw(x, layout)
    n, c, h, w = xn.shape
    if c % groups:
        raise ValueError(f"channels ({c}) must be divisible by groups ({groups})")
    y = xn.reshape(n, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)
    return _from_nchw(y, layout, unbatched)


def block_diagonal(weight, groups):
    """The grouped weight (K, C // G, R, S) as the equivalent dense (K, C, R, S).

    Output channels of group g (rows ``g*K/G .. (g+1)*K/G``) keep their weights
    on input channels ``g*C/G .. (g+1)*C/G`` and are zero elsewhere, so
    ``conv2d(x, block_diagonal(w, G)) == conv2d(x, w, groups=G)``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> reference.block_diagonal(np.ones((4, 1, 1, 1)), 2)[:, :, 0, 0]
    array([[1., 0.],
           [1., 0.],
           [0., 1.],
           [0., 1.]])
    """
    groups = _count(groups, "groups")
    weight = np.asarray(weight).astype(np.float64, copy=False)
    if weight.ndim != 4:
        raise ValueError(
            f"weight must be 4-D (out_channels, in_channels/groups, R, S), got shape {weight.shape}")
    k, cg = weight.shape[:2]
    if k % groups:
        raise ValueError(f"out_channels ({k}) must be divisible by groups ({groups})")
    kg = k // groups
    dense = np.zeros((k, cg * groups) + weight.shape[2:])
    for g in range(groups):
        dense[g * kg:(g + 1) * kg, g * cg:(g + 1) * cg] = weight[g * kg:(g + 1) * kg]
    return dense


# --------------------------------------------------------------------------- transposed conv, gradients

def _pair_ints(value, name):
    """An int or a 2-tuple of ints >= 0 (``output_padding``)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = tuple(value)
        if len(items) != 2:
            raise ValueError(f"{name} must have 2 elements (one per spatial dim), got {value!r}")
    else:
        items = (value, value)
    result = tuple(as_int(v, name) for v in items)
    if min(result) < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return result


def _shape_tuple(shape, name):
    try:
        items = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}") from None
    return tuple(as_int(v, name) for v in items)


def _grad_setup(x_shape, weight_shape, grad_output, stride, padding, dilation, groups, layout):
    """Validated geometry of a conv2d's backward pass: (channels-first batched
    input shape, grad_output as float64 (N, G, K/G, OH, OW), stride, dilation,
    pads, unbatched)."""
    layout = check_layout(layout)
    groups = _count(groups, "groups")
    if len(x_shape) not in (3, 4):
        raise ValueError(f"input shape must have 3 (unbatched) or 4 dims, got {x_shape}")
    unbatched = len(x_shape) == 3
    shape = (1,) + tuple(x_shape) if unbatched else tuple(x_shape)
    if layout == "NHWC":
        shape = (shape[0], shape[3], shape[1], shape[2])
    if shape[0] < 0:
        raise ValueError(f"batch size must be >= 0, got input shape {x_shape}")
    stride, dilation, pads, out = _geometry(shape, weight_shape, stride, padding, dilation,
                                            groups)
    k = weight_shape[0]
    expected = (shape[0], k) + out if layout == "NCHW" else (shape[0],) + out + (k,)
    expected = expected[1:] if unbatched else expected
    if np.shape(grad_output) != expected:
        raise ValueError(f"grad_output has shape {np.shape(grad_output)}, expected {expected} "
                         f"(the forward's output)")
    go, _ = _channels_first(grad_output, layout, 2)
    go = go.reshape((shape[0], groups, k // groups) + out)
    return shape, go, stride, dilation, pads, unbatched


def conv2d_input_grad(input_shape, weight, grad_output, stride=1, padding=0, dilation=1,
                      groups=1, *, layout="NCHW"):
    """Gradient of ``conv2d`` with respect to its input, as ``torch.nn.grad.conv2d_input``.

    ``input_shape`` is the forward input's shape in ``layout`` ((N, C, H, W),
    NHWC (N, H, W, C), or unbatched); ``grad_output`` the gradient of the
    pre-activation output, of exactly the forward output's shape. Each
    output position scatters ``grad_output * w`` back onto the input window
    it read; what lands in the padding is dropped. Rows the forward never
    read (left over by the stride) get 0.

    >>> import numpy as np
    >>> from gconv import reference
    >>> gi = reference.conv2d_input_grad((1, 1, 3, 3), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    >>> gi[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    input_shape = _shape_tuple(input_shape, "input_shape")
    weight = np.asarray(weight).astype(np.float64, copy=False)
    shape, go, stride, dilation, pads, unbatched = _grad_setup(
        input_shape, weight.shape, grad_output, stride, padding, dilation, groups, layout)
    n, c, h, w = shape
    g = go.shape[1]
    k, cg, r, s = weight.shape
    wg = weight.reshape(g, k // g, cg, r, s)
    (pt, pb), (pl, pr) = pads
    grad = np.zeros((n, g, cg, h + pt + pb, w + pl + pr))
    for tap in itertools.product(range(r), range(s)):
        window = (slice(None),) * 3 + _window(tap, dilation, go.shape[3:], stride)
        grad[window] += np.einsum("ngkhw,gkc->ngchw", go, wg[(Ellipsis,) + tap])
    grad = grad[..., pt:pt + h, pl:pl + w].reshape(n, c, h, w)
    return _from_channels_first(grad, layout, unbatched)


def conv2d_weight_grad(x, weight_shape, grad_output, stride=1, padding=0, dilation=1, groups=1,
                       *, layout="NCHW"):
    """Gradient of ``conv2d`` with respect to its weight, as ``torch.nn.grad.conv2d_weight``.

    ``weight_shape`` is (K, C // groups, R, S) (PyTorch's layout whatever the
    data layout); the result has that shape: for each tap, the sum over the
    batch and output positions of ``grad_output`` times the input window the
    tap read (zero-padded).

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> reference.conv2d_weight_grad(x, (1, 1, 2, 2), np.ones((1, 1, 2, 2)))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    weight_shape = _shape_tuple(weight_shape, "weight_shape")
    _, go, stride, dilation, pads, _ = _grad_setup(
        np.shape(x), weight_shape, grad_output, stride, padding, dilation, groups, layout)
    xc, _ = _channels_first(x, layout, 2)
    n, g = go.shape[:2]
    k, cg, r, s = weight_shape
    xp = np.pad(xc, ((0, 0), (0, 0)) + pads)
    xg = xp.reshape((n, g, cg) + xp.shape[2:])
    grad = np.zeros((g, k // g, cg, r, s))
    for tap in itertools.product(range(r), range(s)):
        window = xg[(slice(None),) * 3 + _window(tap, dilation, go.shape[3:], stride)]
        grad[(Ellipsis,) + tap] = np.einsum("ngkhw,ngchw->gkc", go, window)
    return grad.reshape(k, cg, r, s)


_NEEDS = ("input", "weight", "bias")


def conv2d_backward(x, weight, grad_output, stride=1, padding=0, dilation=1, groups=1, *,
                    layout="NCHW", needs=("input", "weight", "bias")):
    """The three gradients of ``conv2d``: ``(grad_input, grad_weight, grad_bias)``,
    each ``None`` unless named in ``needs`` (a tuple of "input", "weight",
    "bias"; a single name is taken as a one-element tuple).

    ``grad_bias`` is ``grad_output`` summed over the batch and spatial dims,
    shape (K,). The other two are :func:`conv2d_input_grad` and
    :func:`conv2d_weight_grad`.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x, w = np.ones((2, 1, 3, 3)), np.ones((3, 1, 2, 2))
    >>> gi, gw, gb = reference.conv2d_backward(x, w, np.ones((2, 3, 2, 2)), needs=("bias",))
    >>> gi, gw, gb
    (None, None, array([8., 8., 8.]))
    """
    if isinstance(needs, str):
        needs = (needs,)
    try:
        needs = tuple(needs)
    except TypeError:
        raise TypeError(f"needs must be a tuple of names from {_NEEDS}, got {needs!r}") from None
    for name in needs:
        if name not in _NEEDS:
            raise ValueError(f"needs must name only {_NEEDS}, got {needs!r}")
    weight = np.asarray(weight).astype(np.float64, copy=False)
    x_shape = np.shape(x)
    # Validates everything (shapes, grad_output) even when only the bias is asked for.
    _grad_setup(x_shape, weight.shape, grad_output, stride, padding, dilation, groups, layout)
    args = (stride, padding, dilation, groups)
    grad_input = grad_weight = grad_bias = None
    if "input" in needs:
        grad_input = conv2d_input_grad(x_shape, weight, grad_output, *args, layout=layout)
    if "weight" in needs:
        grad_weight = conv2d_weight_grad(x, weight.shape, grad_output, *args, layout=layout)
    if "bias" in needs:
        go, _ = _channels_first(grad_output, layout, 2)
        grad_bias = go.sum(axis=(0, 2, 3))
    return grad_input, grad_weight, grad_bias


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layout="NCHW"):
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``
    (same argument order): the adjoint of ``conv2d`` with the same stride,
    padding, dilation and groups.

    ``x`` (N, Cin, H, W) (NHWC or unbatched too); ``weight`` (Cin, Cout // groups,
    R, S); ``bias`` (Cout,). Every input position scatters ``x * w`` onto the
    full output, of size ``(H - 1)*sh + dh*(R - 1) + 1``; then ``padding``
    crops: an int or one int per dim crops that many from both sides,
    ``(before, after)`` pairs crop each side on its own, ``"valid"`` crops
    nothing, ``"same"`` makes the output ``H * stride`` (TensorFlow's
    conv2d_transpose SAME: the adjoint of ``conv2d(padding="same")`` on an
    input of that size; ``output_padding`` must then be 0).
    ``output_padding`` adds that many rows/columns at the bottom/right
    (zeros plus the bias, unless the crop left written ones there); it must
    be smaller than ``max(stride, dilation)`` per dim, as in torch. So
    ``OH = (H - 1)*sh - pad_top - pad_bottom + dh*(R - 1) + output_padding_h + 1``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> reference.conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)[0, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    layout = check_layout(layout)
    groups = _count(groups, "groups")
    xc, unbatched = _channels_first(x, layout, 2)
    weight = np.asarray(weight).astype(np.float64, copy=False)
    if weight.ndim != 4:
        raise ValueError(f"weight must be 4-D (in_channels, out_channels/groups, R, S), got "
                         f"shape {weight.shape}")
    n, cin, h, w = xc.shape
    if cin < 1 or h < 1 or w < 1:
        raise ValueError(f"input channels and spatial sizes must be >= 1, got input shape {np.shape(x)}")
    if weight.shape[0] != cin:
        raise ValueError(f"weight.shape[0] ({weight.shape[0]}) must equal the input channels "
                         f"({cin}): a transposed conv's weight is (in_channels, "
                         f"out_channels/groups, R, S)")
    if cin % groups:
        raise ValueError(f"in_channels ({cin}) must be divisible by groups ({groups})")
    cog, r, s = weight.shape[1:]
    if min(cog, r, s) < 1:
        raise ValueError(f"weight shape {weight.shape} has an empty dimension")
    cout = cog * groups
    stride = spatial_tuple(stride, "stride")
    dilation = spatial_tuple(dilation, "dilation")
    output_padding = _pair_ints(output_padding, "output_padding")
    for op, st, d in zip(output_padding, stride, dilation):
        if op >= max(st, d):
            raise ValueError(f"output_padding {output_padding} must be smaller than either stride "
                             f"{stride} or dilation {dilation}")
    full = tuple((size - 1) * st + d * (k - 1) + 1
                 for size, st, d, k in zip((h, w), stride, dilation, (r, s)))
    if isinstance(padding, str) and padding == "same":
        if output_padding != (0, 0):
            raise ValueError(f"output_padding must be 0 with padding='same', got {output_padding}")
        pads = resolve_padding("same", (h * stride[0], w * stride[1]), (r, s), stride, dilation)
        output_padding = tuple(size * st - (f - sum(p))
                               for size, st, f, p in zip((h, w), stride, full, pads))
    else:
        pads = resolve_padding(padding, (h, w), (r, s), stride, dilation)
    out = tuple(f - sum(p) + op for f, p, op in zip(full, pads, output_padding))
    if min(out) < 1:
        raise ValueError(f"output size {out} is too small: full size {full}, padding {pads}, "
                         f"output_padding {output_padding}")
    if bias is not None:
        bias = np.asarray(bias).astype(np.float64, copy=False)
        if bias.shape != (cout,):
            raise ValueError(f"bias must have shape ({cout},), got {bias.shape}")
    xg = xc.reshape(n, groups, cin // groups, h, w)
    wg = weight.reshape(groups, cin // groups, cog, r, s)
    canvas = tuple(max(f, p[0] + o) for f, p, o in zip(full, pads, out))
    y = np.zeros((n, groups, cog) + canvas)
    for tap in itertools.product(range(r), range(s)):
        window = (slice(None),) * 3 + _window(tap, dilation, (h, w), stride)
        y[window] += np.einsum("ngchw,gco->ngohw", xg, wg[(Ellipsis,) + tap])
    (pt, _), (pl, _) = pads
    y = y[..., pt:pt + out[0], pl:pl + out[1]].reshape((n, cout) + out)
    if bias is not None:
        y = y + bias[:, np.newaxis, np.newaxis]
    return _from_channels_first(y, layout, unbatched)


# --------------------------------------------------------------------------- blocks

def interleaved_group_conv(x, w_primary, w_secondary, primary_groups, *, stride=1,
                           padding="same", dilation=1, layout="NCHW", bias_primary=None,
                           bias_secondary=None, activation=None):
    """Interleaved group convolution (Zhang et al. 2017), as ``gconv.interleaved_group_conv``:
    ``shuffle(conv(shuffle(conv(x, w_primary, groups=L), L), w_secondary, groups=M), M)``
    with L = ``primary_groups`` and M = ``w_primary.shape[0] // L``.

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.ones((1, 4, 3, 3))
    >>> y = reference.interleaved_group_conv(x, np.ones((4, 2, 3, 3)), np.ones((4, 2, 1, 1)), 2)
    >>> y[0, :, 1, 1]
    array([36., 36., 36., 36.])
    """
    layout = check_layout(layout)
    lg = _count(primary_groups, "primary_groups")
    w_primary = np.asarray(w_primary)
    w_secondary = np.asarray(w_secondary)
    if w_primary.ndim != 4 or w_primary.shape[0] % lg:
        raise ValueError(f"w_primary must be 4-D with shape[0] divisible by primary_groups "
                         f"({lg}), got shape {w_primary.shape}")
    m = w_primary.shape[0] // lg
    if w_secondary.ndim != 4 or w_secondary.shape[1:] != (lg, 1, 1) or w_secondary.shape[0] % m:
        raise ValueError(f"w_secondary must have shape (M * L2, {lg}, 1, 1) with M = {m}, got "
                         f"{w_secondary.shape}")
    y = conv2d(x, w_primary, bias_primary, stride, padding, dilation, lg, layout=layout)
    y = channel_shuffle(y, lg, layout=layout)
    y = conv2d(y, w_secondary, bias_secondary, groups=m, layout=layout, activation=activation)
    return channel_shuffle(y, m, layout=layout)


def _avg_pool_3x3_s2_p1(x):
    """torch's ``avg_pool2d(x, 3, 2, 1)`` (count_include_pad): the mean of
    each 3x3 window of the zero-padded channels-first ``x``, padding counted."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    oh, ow = (x.shape[2] - 1) // 2 + 1, (x.shape[3] - 1) // 2 + 1
    total = np.zeros(x.shape[:2] + (oh, ow))
    for i, j in itertools.product(range(3), range(3)):
        total += xp[:, :, i:i + 2 * oh - 1:2, j:j + 2 * ow - 1:2]
    return total / 9


def shuffle_unit(x, w_gconv1, w_dw, w_gconv2, groups, *, stride=1, layout="NCHW",
                 bias_gconv1=None, bias_dw=None, bias_gconv2=None):
    """The ShuffleNet v1 unit, as ``gconv.shuffle_unit``: branch = grouped 1x1
    + ReLU, channel shuffle, 3x3 depthwise (stride, padding 1), grouped 1x1;
    ``relu(x + branch)`` for stride 1, ``relu(concat([avg_pool(x), branch]))``
    for stride 2 (3x3, stride 2, padding 1, padding counted).

    >>> import numpy as np
    >>> from gconv import reference
    >>> x = np.ones((1, 4, 4, 4))
    >>> w1, wd, w2 = np.ones((2, 2, 1, 1)), np.ones((2, 1, 3, 3)), np.ones((4, 1, 1, 1))
    >>> reference.shuffle_unit(x, w1, wd, w2, 2, stride=2).shape
    (1, 8, 2, 2)
    """
    layout = check_layout(layout)
    groups = _count(groups, "groups")
    stride = as_int(stride, "stride")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    w_dw = np.asarray(w_dw)
    if w_dw.ndim != 4 or w_dw.shape[1:] != (1, 3, 3):
        raise ValueError(f"w_dw must have shape (Cb, 1, 3, 3), got {w_dw.shape}")
    for name, w in (("w_gconv1", w_gconv1), ("w_gconv2", w_gconv2)):
        if np.ndim(w) != 4 or np.shape(w)[2:] != (1, 1):
            raise ValueError(f"{name} must be 4-D and 1x1, got shape {np.shape(w)}")
    xc, unbatched = _channels_first(x, layout, 2)
    y = conv2d(xc, w_gconv1, bias_gconv1, groups=groups, activation="relu")
    y = channel_shuffle(y, groups)
    y = depthwise_conv2d(y, w_dw, bias_dw, stride=stride, padding=1)
    y = conv2d(y, w_gconv2, bias_gconv2, groups=groups)
    if stride == 1:
        if y.shape[1] != xc.shape[1]:
            raise ValueError(f"stride 1 adds the input: w_gconv2.shape[0] ({y.shape[1]}) must "
                             f"equal the input channels ({xc.shape[1]})")
        y = xc + y
    else:
        y = np.concatenate([_avg_pool_3x3_s2_p1(xc), y], axis=1)
    return _from_channels_first(_activate(y, "relu"), layout, unbatched)
