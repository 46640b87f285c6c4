"""The optional CUDA build: ``gconv.cuda.is_available()`` tells whether this
build has CUDA kernels and a GPU to run them on.

Example:
    >>> import gconv
    >>> gconv.cuda.is_available() in (True, False)
    True
"""

import importlib.util


def is_built():
    """Whether this build of gconv contains the CUDA kernels (-DGCONV_CUDA=ON)."""
    return importlib.util.find_spec("gconv._cuda_core") is not None


def is_available():
    """Whether CUDA kernels are built in and a CUDA device can run them."""
    if not is_built():
        return False
    from . import _cuda_core

    return _cuda_core.device_count() > 0
