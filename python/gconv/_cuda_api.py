"""The API of API.md on CUDA arrays: what ``gconv.conv2d`` and friends call
when an argument exposes ``__cuda_array_interface__`` (CuPy, PyTorch CUDA
tensors, Numba device arrays, ...).

The arguments are checked by the same code as on the CPU (``ConvParams``,
``split_batch``, the dtype rules), so both paths raise the same errors; then
one launch is enqueued on the current CuPy stream of the input's device.
Results are CuPy arrays on that device; ``out=`` may be any writable,
C-contiguous device array of the exact shape and dtype, and is returned.
"""

import numpy as np

from . import _args, _cuda_core
from ._conv_spec import (ConvParams, DTYPE_CODES, LAYOUT_CODES, check_bias_shape,
                         check_out_array, check_same_dtype, split_batch)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _cupy():
    try:
        import cupy
    except ImportError:
        raise ImportError(
            "gconv: CUDA arrays need CuPy to allocate the results (pip install cupy-cuda12x)"
        ) from None
    return cupy


def _is_device(value):
    return value is not None and hasattr(value, "__cuda_array_interface__")


def _check_one_side(where, **arrays):
    """Every given array is a device array, else a TypeError naming which is which."""
    device = [name for name, a in arrays.items() if _is_device(a)]
    host = [name for name, a in arrays.items() if a is not None and not _is_device(a)]
    if device and host:
        def names(side):
            return ", ".join(f"{n} ({type(arrays[n]).__module__}.{type(arrays[n]).__name__})"
                             for n in side)
        raise TypeError(
            f"{where}: host and device arrays cannot be mixed: on the device: {names(device)}; "
            f"on the host: {names(host)}. Move them to one side (cupy.asarray / .get())"
        )


def _as_device_float(value, name):
    """``value`` (a CUDA array) as a CuPy array of float32/float64, no copy."""
    array = _cupy().asarray(value)
    if array.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {array.dtype}")
    return array


def _same_device(where, **arrays):
    devices = {name: a.device.id for name, a in arrays.items() if a is not None}
    if len(set(devices.values())) > 1:
        seen = ", ".join(f"{name} on cuda:{d}" for name, d in devices.items())
        raise ValueError(f"{where}: all arrays must be on one device, got {seen}")
    return next(iter(devices.values()))


def _contiguous(array):
    return array if array is None or array.flags.c_contiguous else _cupy().ascontiguousarray(array)


def _check_out(out, shape, dtype, device, where):
    """``out`` as a CuPy view, checked like the CPU's out= (type, dtype, shape, order, writable)."""
    if not _is_device(out):
        raise TypeError(f"{where}: out must be a CUDA array, got {type(out).__name__}")
    view = _cupy().asarray(out)
    read_only = out.__cuda_array_interface__["data"][1]
    check_out_array(view, shape, dtype, not read_only, where)
    if view.device.id != device:
        raise ValueError(f"{where}: out is on cuda:{view.device.id}, the inputs on cuda:{device}")
    return view


def _overlaps(a, b):
    if b is None or a.nbytes == 0 or b.nbytes == 0:
        return False
    return a.data.ptr < b.data.ptr + b.nbytes and b.data.ptr < a.data.ptr + a.nbytes


def _pointer(array):
    return 0 if array is None else array.data.ptr


def _launch(result, inputs, run):
    """Runs ``run(target)`` into ``result``, through a temporary when ``result``
    overlaps an input (out= aliasing x, weight or bias)."""
    cupy = _cupy()
    if result.size == 0:
        return
    target = result
    if any(_overlaps(result, a) for a in inputs):
        target = cupy.empty(result.shape, result.dtype)
    run(target)
    if target is not result:
        result[...] = target


def _convolve(where, x, weight, bias, stride, padding, dilation, groups, layout, activation,
              out, force=None):
    """The CPU's ConvSpec + _convolve checks in the same order, then one launch."""
    cupy = _cupy()
    _check_one_side(where, input=x, weight=weight, bias=bias, out=out)
    w = _as_device_float(weight, "weight")
    params = ConvParams(w.shape, stride, padding, dilation, groups, layout, activation, where)
    b = None
    if bias is not None:
        b = _as_device_float(bias, "bias")
        check_bias_shape(where, b, w.shape[0])
    check_same_dtype(where, weight=w, bias=b)
    xd = _as_device_float(x, "input")
    check_same_dtype(where, input=xd, weight=w, bias=b)
    device = _same_device(where, input=xd, weight=w, bias=b)
    desc, out_shape, _ = params.descriptor(xd.shape, w.dtype, b is not None)
    with cupy.cuda.Device(device):
        if out is not None:
            result = _check_out(out, out_shape, w.dtype, device, where)
        else:
            result = cupy.empty(out_shape, w.dtype)
        xd, w, b = _contiguous(xd), _contiguous(w), _contiguous(b)
        stream = cupy.cuda.get_current_stream().ptr
        _launch(result, (xd, w, b), lambda target: _cuda_core.conv2d(
            desc, xd.data.ptr, w.data.ptr, _pointer(b), target.data.ptr, desc[0], device, stream,
            force))
    return out if out is not None else result


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           activation=None, out=None, _force=None):
    """``gconv.conv2d`` on CUDA arrays (see its docstring); returns a CuPy array.

    ``_force`` names one of ``gconv.cuda.ALGORITHMS`` (tests reach every kernel with it).
    """
    return _convolve("conv2d", x, weight, bias, stride, padding, dilation, groups, layout,
                     activation, out, _force)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *, layout="NCHW",
                     activation=None, out=None, _force=None):
    """``gconv.depthwise_conv2d`` on CUDA arrays: weight (C * m, 1, R, S)."""
    where = "depthwise_conv2d"
    _check_one_side(where, input=x, weight=weight, bias=bias, out=out)
    xd = _as_device_float(x, "input")
    layout = _args.check_layout(layout)
    _, channels, _, _ = split_batch(xd, layout, where)
    w = _as_device_float(weight, "weight")
    if w.ndim != 4 or w.shape[1] != 1:
        raise ValueError(f"{where}: weight must have shape (C * m, 1, R, S), got {w.shape}")
    return _convolve(where, xd, w, bias, stride, padding, dilation, channels, layout, activation,
                     out, _force)


def global_depthwise_conv2d(x, weight, bias=None, *, layout="NCHW", out=None):
    """``gconv.global_depthwise_conv2d`` on CUDA arrays: weight (C * m, 1, H, W)."""
    where = "global_depthwise_conv2d"
    _check_one_side(where, input=x, weight=weight, bias=bias, out=out)
    xd = _as_device_float(x, "input")
    layout = _args.check_layout(layout)
    _, channels, spatial, _ = split_batch(xd, layout, where)
    w = _as_device_float(weight, "weight")
    if w.ndim != 4 or w.shape[1] != 1 or w.shape[2:] != spatial:
        raise ValueError(
            f"{where}: weight must have shape (C * m, 1, {spatial[0]}, {spatial[1]}) for an input "
            f"of spatial size {spatial}, got {w.shape}"
        )
    return _convolve(where, xd, w, bias, 1, 0, 1, channels, layout, None, out,
                     "global_depthwise")


def global_avg_pool2d(x, *, layout="NCHW", out=None):
    """``gconv.global_avg_pool2d`` on CUDA arrays: (N, C, H, W) -> (N, C, 1, 1)."""
    cupy = _cupy()
    where = "global_avg_pool2d"
    _check_one_side(where, input=x, out=out)
    xd = _as_device_float(x, "input")
    layout = _args.check_layout(layout)
    n, c, (h, w), unbatched = split_batch(xd, layout, where)
    shape = (n, c, 1, 1) if layout == "NCHW" else (n, 1, 1, c)
    if unbatched:
        shape = shape[1:]
    _args.checked_product(xd.shape, f"{where}: input")
    device = xd.device.id
    with cupy.cuda.Device(device):
        result = (_check_out(out, shape, xd.dtype, device, where) if out is not None
                  else cupy.empty(shape, xd.dtype))
        xd = _contiguous(xd)
        stream = cupy.cuda.get_current_stream().ptr
        _launch(result, (xd,), lambda target: _cuda_core.global_avg_pool2d(
            DTYPE_CODES[xd.dtype], LAYOUT_CODES[layout], n, c, h, w, xd.data.ptr,
            target.data.ptr, device, stream))
    return out if out is not None else result


def choose_algorithm(x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1, *,
                     layout="NCHW", dtype=np.float32, force=None):
    """Name of the CUDA algorithm a conv2d of these shapes runs with."""
    params = ConvParams(tuple(weight_shape), stride, padding, dilation, groups, layout, None,
                        "conv2d")
    desc, _, _ = params.descriptor(tuple(x_shape), dtype, False)
    return _cuda_core.choose_algorithm(desc, force)
