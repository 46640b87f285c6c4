"""The optional CUDA build: ``gconv.cuda.is_available()`` tells whether this
build has CUDA kernels and a GPU to run them on.

With CUDA built in, ``gconv.conv2d``, ``depthwise_conv2d``,
``global_depthwise_conv2d`` and ``global_avg_pool2d`` accept device arrays
(anything with ``__cuda_array_interface__``, e.g. CuPy) and return CuPy
arrays on the input's device, computed on its current CuPy stream.

Example:
    >>> import gconv
    >>> gconv.cuda.is_available() in (True, False)
    True
"""

import importlib.util

import numpy as np

#: The CUDA kernels' algorithms; :func:`algorithm` names the one a convolution gets.
ALGORITHMS = ("implicit_gemm", "grouped_narrow", "depthwise", "global_depthwise", "direct")


def is_built():
    """Whether this build of gconv contains the CUDA kernels (-DGCONV_CUDA=ON)."""
    return importlib.util.find_spec("gconv._cuda_core") is not None


def device_count():
    """Number of CUDA devices gconv can use (0 without CUDA build, driver or GPU)."""
    if not is_built():
        return 0
    from . import _cuda_core

    return _cuda_core.device_count()


def is_available():
    """Whether CUDA kernels are built in and a CUDA device can run them."""
    return device_count() > 0


def runtime_version():
    """(major, minor) of the CUDA runtime linked into this build, or None without CUDA."""
    if not is_built():
        return None
    from . import _cuda_core

    return _cuda_core.runtime_version()


def algorithm(x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1, *,
              layout="NCHW", dtype=np.float32):
    """Name of the CUDA algorithm (one of ``ALGORITHMS``) a conv2d of these shapes runs with.

    Example (with a CUDA build):
        >>> gconv.cuda.algorithm((16, 128, 56, 56), (128, 4, 3, 3), padding=1, groups=32)  # doctest: +SKIP
        'grouped_narrow'
    """
    if not is_built():
        raise RuntimeError("gconv was built without CUDA (rebuild with -Ccmake.define.GCONV_CUDA=ON)")
    from . import _cuda_api

    return _cuda_api.choose_algorithm(x_shape, weight_shape, stride, padding, dilation, groups,
                                      layout=layout, dtype=dtype)
