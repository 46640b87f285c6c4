"""From user arguments to the C descriptor: the checks API.md promises.

A ``ConvSpec`` holds everything about a convolution that does not depend on
the input's shape (weight, bias, stride, padding as given, dilation, groups,
layout, activation); ``ConvSpec.descriptor(x_shape)`` adds the input and
returns the descriptor tuple the extension reads plus the output shape.
"""

import numpy as np

from . import _args

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LAYOUT_CODES = {"NCHW": 0, "NHWC": 1}
DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}
ACTIVATION_CODES = {None: 0, "relu": 1, "relu6": 2}


def as_float_array(value, name):
    """``value`` as an ndarray of float32/float64 in native byte order."""
    array = value if type(value) is np.ndarray else np.asarray(value)
    dtype = array.dtype
    if dtype in _FLOAT_DTYPES:
        return array
    if dtype.kind == "f" and dtype.itemsize in (4, 8) and not dtype.isnative:
        return array.astype(dtype.newbyteorder("="))
    raise TypeError(f"{name} must be float32 or float64, got dtype {dtype}")


def check_same_dtype(where, **arrays):
    """All given arrays share one dtype, else a TypeError listing them."""
    first = None
    for a in arrays.values():
        if a is not None:
            if first is None:
                first = a.dtype
            elif a.dtype != first:
                break
    else:
        return
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    seen = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
    raise TypeError(f"{where}: {', '.join(dtypes)} must share one dtype (float32 or float64), got {seen}")


def check_bias_shape(where, bias, out_channels):
    """A bias holds one value per output channel."""
    if bias.shape != (out_channels,):
        raise ValueError(
            f"{where}: bias must have shape ({out_channels},) (one per output channel), "
            f"got {bias.shape}"
        )


def check_group_channels(where, channels, groups, weight_shape, x_shape):
    """The input's channels split into ``groups`` groups of weight_shape[1]."""
    if channels % groups:
        raise ValueError(
            f"{where}: in_channels ({channels}) must be divisible by groups ({groups})")
    cg = weight_shape[1]
    if cg * groups != channels:
        raise ValueError(
            f"{where}: Given groups={groups}, weight of size {list(weight_shape)}, expected "
            f"input{list(x_shape)} to have {cg * groups} channels, but got {channels} "
            f"channels instead"
        )


def kernel_ready(array):
    """A C-contiguous, aligned, native-order array the kernels can read."""
    flags = array.flags  # (a new object per access)
    if flags.c_contiguous and flags.aligned:
        return array
    return np.array(array, order="C", copy=True)


def check_out(out, shape, dtype, where):
    """``out`` must be an ndarray of exactly ``shape`` and ``dtype``, C-contiguous, writable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{where}: out must be a numpy.ndarray, got {type(out).__name__}")
    check_out_array(out, shape, dtype, out.flags.writeable, where)


def check_out_array(out, shape, dtype, writeable, where):
    """The checks every out= gets, host or device: dtype, exact shape,
    C order, writable (TypeError for the dtype, ValueError for the rest)."""
    if out.dtype != dtype:
        raise TypeError(f"{where}: out has dtype {out.dtype}, expected {dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{where}: out has shape {out.shape}, expected {tuple(shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{where}: out must be C-contiguous")
    if not writeable:
        raise ValueError(f"{where}: out is read-only")


def split_batch(x, layout, where, spatial_dims=2):
    """(N, C, spatial sizes, unbatched) of an input in ``layout``."""
    ndim = spatial_dims + 2
    if x.ndim not in (ndim, ndim - 1):
        raise ValueError(
            f"{where}: input must be {ndim}-D ({layout}) or {ndim - 1}-D (unbatched), "
            f"got {x.ndim}-D input of shape {x.shape}"
        )
    unbatched = x.ndim == ndim - 1
    shape = (1,) + x.shape if unbatched else x.shape
    if layout.startswith("NC"):
        n, c, spatial = shape[0], shape[1], shape[2:]
    else:
        n, c, spatial = shape[0], shape[-1], shape[1:-1]
    if c < 1:
        raise ValueError(f"{where}: input has {c} channels, needs at least 1 (shape {x.shape})")
    if min(spatial) < 1:
        raise ValueError(f"{where}: input spatial size {tuple(spatial)} must be >= 1 (shape {x.shape})")
    return n, c, tuple(spatial), unbatched


class ConvParams:
    """A 2-D convolution's shape parameters minus its input, validated once."""

    __slots__ = ("weight_shape", "stride", "padding", "dilation", "groups", "layout",
                 "activation", "where", "_descriptors")

    def __init__(self, weight_shape, stride, padding, dilation, groups, layout, activation,
                 where):
        self._descriptors = {}
        self.where = where
        self.layout = _args.check_layout(layout)
        self.activation = _args.check_activation(activation)
        self.groups = _args.as_int(groups, "groups")
        if self.groups < 1:
            raise ValueError(f"{where}: groups must be >= 1, got {self.groups}")
        if len(weight_shape) != 4:
            raise ValueError(
                f"{where}: weight must be 4-D (out_channels, in_channels // groups, kH, kW), "
                f"got shape {tuple(weight_shape)}"
            )
        self.weight_shape = tuple(weight_shape)
        out_channels, cg, kh, kw = self.weight_shape
        if out_channels % self.groups:
            raise ValueError(
                f"{where}: out_channels (weight.shape[0] = {out_channels}) must be divisible "
                f"by groups ({self.groups})"
            )
        if cg < 1 or kh < 1 or kw < 1:
            raise ValueError(f"{where}: weight shape {self.weight_shape} has an empty dimension")
        self.stride = _args.spatial_tuple(stride, "stride")
        self.dilation = _args.spatial_tuple(dilation, "dilation")
        if isinstance(padding, str) and padding == "same":
            self.padding = padding  # depends on the input size: resolved per call
        else:
            # Every other form is independent of the input size.
            self.padding = _args.resolve_padding(padding, (1, 1), (kh, kw), self.stride,
                                                 self.dilation)

    def descriptor(self, x_shape, dtype, has_bias):
        """(descriptor tuple, output shape, unbatched) for an input of ``x_shape``."""
        key = (x_shape, dtype, has_bias)
        cached = self._descriptors.get(key)
        if cached is None:
            cached = self._describe(x_shape, dtype, has_bias)
            if len(self._descriptors) >= 16:  # a plan sees few shapes; stay bounded
                self._descriptors.clear()
            self._descriptors[key] = cached
        return cached

    def _describe(self, x_shape, dtype, has_bias):
        where = self.where
        n, c, (h, wd), unbatched = split_batch(_ShapeOnly(x_shape), self.layout, where)
        g = self.groups
        k, cg, kh, kw = self.weight_shape
        check_group_channels(where, c, g, self.weight_shape, x_shape)
        pads = self.padding
        if isinstance(pads, str):
            pads = _args.resolve_padding(pads, (h, wd), (kh, kw), self.stride, self.dilation)
        (pt, pb), (pl, pr) = pads
        sh, sw = self.stride
        dh, dw = self.dilation
        oh = _args.output_size(h, kh, sh, (pt, pb), dh, f"{where}: height")
        ow = _args.output_size(wd, kw, sw, (pl, pr), dw, f"{where}: width")
        out_shape = (n, k, oh, ow) if self.layout == "NCHW" else (n, oh, ow, k)
        _args.checked_product(tuple(x_shape) + (8,), f"{where}: input")
        _args.checked_product(out_shape + (8,), f"{where}: output")
        desc = (n, c, k, g, h, wd, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw,
                LAYOUT_CODES[self.layout], DTYPE_CODES[np.dtype(dtype)],
                ACTIVATION_CODES[self.activation], 1 if has_bias else 0)
        return desc, (out_shape[1:] if unbatched else out_shape), unbatched


_PLAIN_TYPES = frozenset((int, str, type(None)))


def _plain(value):
    """Whether ``value`` is an exact int/str/None or a tuple of them: arguments
    that can key the parameter cache without hiding a type error (True == 1)."""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if kind is not tuple:
        return False
    for item in value:
        if not _plain(item):
            return False
    return True


_PARAMS_CACHE = {}


def conv_params(weight_shape, stride, padding, dilation, groups, layout, activation, where):
    """ConvParams for these arguments, shared between calls that repeat them
    (validating the same arguments on every call costs microseconds)."""
    args = (weight_shape, stride, padding, dilation, groups, layout, activation, where)
    for value in args[1:]:  # _plain(args[1:]) without a call per plain int or str
        kind = type(value)
        if kind not in _PLAIN_TYPES and not (kind is tuple and _plain(value)):
            return ConvParams(*args)
    params = _PARAMS_CACHE.get(args)
    if params is None:
        params = ConvParams(*args)
        if len(_PARAMS_CACHE) >= 64:
            _PARAMS_CACHE.clear()
        _PARAMS_CACHE[args] = params
    return params


class ConvSpec:
    """ConvParams plus the weight and bias arrays the kernels read."""

    __slots__ = ("params", "weight", "bias")

    def __init__(self, weight, bias, stride, padding, dilation, groups, layout, activation,
                 where, copy=False):
        weight = as_float_array(weight, "weight")
        self.params = conv_params(weight.shape, stride, padding, dilation, groups, layout,
                                  activation, where)
        if bias is not None:
            bias = as_float_array(bias, "bias")
            check_bias_shape(where, bias, weight.shape[0])
            if bias.dtype != weight.dtype:
                check_same_dtype(where, weight=weight, bias=bias)
        ready = (lambda a: np.array(a, order="C", copy=True)) if copy else kernel_ready
        self.weight = ready(weight)
        self.bias = None if bias is None else ready(bias)

    @property
    def where(self):
        return self.params.where

    @property
    def dtype(self):
        return self.weight.dtype

    def descriptor(self, x_shape):
        return self.params.descriptor(x_shape, self.weight.dtype, self.bias is not None)

    def with_padding(self, padding):
        """The same convolution with another ``padding``, sharing the arrays."""
        p = self.params
        spec = ConvSpec.__new__(ConvSpec)
        spec.params = conv_params(p.weight_shape, p.stride, padding, p.dilation, p.groups,
                                  p.layout, p.activation, p.where)
        spec.weight, spec.bias = self.weight, self.bias
        return spec


class _ShapeOnly:
    """Just enough of an array for split_batch() to read a shape."""

    __slots__ = ("shape", "ndim")

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.ndim = len(self.shape)
