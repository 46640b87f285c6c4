"""``padding_mode``: what fills the padding, as ``torch.nn.Conv{1,2,3}d`` does.

``"zeros"`` is the convolution's own padding (the kernels skip the padded
taps, no copy). The other modes pad the input by the padding amounts with
``np.pad`` and then run an unpadded convolution, exactly as torch's modules
do with ``F.pad``:

=============  =============  ==========================================
padding_mode   ``np.pad``     allowed padding (torch's ``F.pad`` rules)
=============  =============  ==========================================
``reflect``    ``reflect``    each side < the input size on that dim
``replicate``  ``edge``       any
``circular``   ``wrap``       each side <= the input size on that dim
=============  =============  ==========================================
"""

import numpy as np

from . import _args
from ._conv_spec import _ShapeOnly, split_batch

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def check_padding_mode(padding_mode, where):
    """``padding_mode`` validated: a str, one of PADDING_MODES."""
    if padding_mode == "zeros" and type(padding_mode) is str:  # the default, on every call
        return padding_mode
    if not isinstance(padding_mode, str):
        raise TypeError(
            f"{where}: padding_mode must be a str, one of {PADDING_MODES}, got {padding_mode!r}"
        )
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"{where}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}"
        )
    return padding_mode


def spatial_axes(ndim, layout, spatial_dims):
    """Axes of the spatial dims of an ``ndim``-D array in ``layout`` (batched or not)."""
    last = ndim if layout.startswith("NC") else ndim - 1
    return tuple(range(last - spatial_dims, last))


def check_pads(pads, spatial, padding_mode, where):
    """torch's limits on the padding for ``padding_mode`` (ValueError naming both)."""
    for axis, ((before, after), size) in enumerate(zip(pads, spatial)):
        if padding_mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"{where}: padding_mode='reflect' needs padding < input size, got padding "
                f"({before}, {after}) on spatial dim {axis} of size {size}"
            )
        if padding_mode == "circular" and max(before, after) > size:
            raise ValueError(
                f"{where}: padding_mode='circular' needs padding <= input size (it wraps around "
                f"at most once), got padding ({before}, {after}) on spatial dim {axis} of size {size}"
            )


def pad_input(x, pads, padding_mode, layout, where):
    """``x`` padded by ``pads`` ((before, after) per spatial dim) in ``padding_mode``.

    ``x`` is an ndarray in ``layout``, batched or unbatched; the result is a
    new array. ``padding_mode`` must not be ``"zeros"``.
    """
    axes = spatial_axes(x.ndim, layout, len(pads))
    spatial = tuple(x.shape[a] for a in axes)
    check_pads(pads, spatial, padding_mode, where)
    widths = [(0, 0)] * x.ndim
    for axis, pair in zip(axes, pads):
        widths[axis] = pair
    padded_shape = tuple(size + sum(pair) for size, pair in zip(x.shape, widths))
    _args.checked_product(padded_shape + (x.dtype.itemsize,), f"{where}: padded input")
    return np.pad(x, widths, mode=_NUMPY_MODES[padding_mode])


def conv2d_pads(spec, x_shape):
    """The (before, after) pads of a ConvSpec's convolution on an input of
    ``x_shape``, after validating the call on that (unpadded) shape, so that
    errors name the shapes the caller gave and a failing call copies nothing."""
    params = spec.params
    spec.descriptor(x_shape)
    if not isinstance(params.padding, str):
        return params.padding
    _, _, spatial, _ = split_batch(_ShapeOnly(x_shape), params.layout, params.where)
    return _args.resolve_padding(params.padding, spatial, params.weight_shape[2:], params.stride,
                                 params.dilation)


def padded_conv2d_input(spec, x, padding_mode):
    """The input of a ConvSpec's convolution padded in ``padding_mode``; the
    caller then runs ``spec.with_padding(0)`` on it."""
    pads = conv2d_pads(spec, x.shape)
    return pad_input(x, pads, padding_mode, spec.params.layout, spec.params.where)


def padded_conv2d_shape(spec, x_shape, padding_mode):
    """The shape ``padded_conv2d_input`` gives for an input of ``x_shape``."""
    pads = conv2d_pads(spec, x_shape)
    axes = spatial_axes(len(x_shape), spec.params.layout, 2)
    check_pads(pads, tuple(x_shape[a] for a in axes), padding_mode, spec.params.where)
    shape = list(x_shape)
    for axis, pair in zip(axes, pads):
        shape[axis] += sum(pair)
    return tuple(shape)


def require_zeros_on_device(padding_mode, where):
    """CUDA arrays take the zero padding only (the device path has no pad copy)."""
    if padding_mode != "zeros":
        raise TypeError(
            f"{where}: padding_mode={padding_mode!r} needs NumPy arrays; with CUDA arrays pad the "
            f"input first (cupy.pad) and use padding=0"
        )
