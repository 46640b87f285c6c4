"""Helpers for the GPU tests: the CPU suite's cases and tolerances, device
copies, and one check that compares a GPU result with both the float64
reference and the CPU gconv result.

Every test module starts with ``cp = require_gpu()``, which skips the whole
module where CuPy, the CUDA build or a GPU is missing. The CPU suite's
helpers (tests/python/conftest.py) are loaded under another module name so
that both conftest files can be collected in one pytest run.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest

import gconv

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_cpu_helpers():
    name = "gconv_cpu_test_helpers"
    if name not in sys.modules:
        path = os.path.join(_HERE, os.pardir, "python", "conftest.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


cpu = _load_cpu_helpers()
# Re-exported whole: when tests/python and tests/gpu run in one pytest call,
# this conftest is the module named "conftest" that tests/python imports from.
globals().update({name: value for name, value in vars(cpu).items()
                  if not name.startswith("__")})
GRID = cpu.GRID
ConvCase = cpu.ConvCase
assert_close = cpu.assert_close
random_array = cpu.random_array
tolerance = cpu.tolerance


def require_gpu():
    """CuPy, or a module-level skip when CuPy, the CUDA build or a GPU is missing."""
    cupy = pytest.importorskip("cupy")
    if not gconv.cuda.is_built():
        pytest.skip("gconv was built without CUDA (-Ccmake.define.GCONV_CUDA=ON)",
                    allow_module_level=True)
    if not gconv.cuda.is_available():
        pytest.skip("no CUDA device available", allow_module_level=True)
    return cupy


def to_device(*arrays):
    import cupy

    return tuple(None if a is None else cupy.asarray(a) for a in arrays)


def check_against_cpu(got, ref, cpu_result, dtype, descriptor):
    """``got`` (a CuPy array) matches the reference within DESIGN.md's tolerance,
    and the CPU result within twice that (each may be off by one tolerance)."""
    import cupy

    assert isinstance(got, cupy.ndarray), f"{descriptor}: result is {type(got).__name__}"
    host = cupy.asnumpy(got)
    assert_close(host, ref, dtype, descriptor + " device=cuda")
    finite = np.isfinite(ref)
    if finite.any():
        diff = np.abs(host[finite].astype(np.float64) - cpu_result[finite].astype(np.float64))
        limit = 2 * tolerance(dtype, ref)
        assert diff.max() <= limit, (
            f"{descriptor} device=cuda: max|gpu - cpu| = {diff.max():.3g} > {limit:.3g}")


def run_case(case, force=None):
    """conv2d of ``case`` on the GPU (algorithm ``force`` or automatic), checked."""
    x, w, b = case.arrays()
    ref = case.reference(x, w, b)
    cpu_result = gconv.conv2d(x, w, b, **case.kwargs())
    dx, dw, db = to_device(x, w, b)
    if force is None:
        got = gconv.conv2d(dx, dw, db, **case.kwargs())
    else:
        from gconv import _cuda_api

        got = _cuda_api.conv2d(dx, dw, db, **case.kwargs(), _force=force)
    check_against_cpu(got, ref, cpu_result, case.dtype, case.descriptor(algorithm=force or "auto"))
    return got


def accepted_algorithms(case):
    """The CUDA algorithms that accept ``case``."""
    from gconv import _cuda_api

    names = []
    for name in gconv.cuda.ALGORITHMS:
        try:
            _cuda_api.choose_algorithm(case.x_shape(), case.w_shape(), case.stride, case.padding,
                                       case.dilation, case.g, layout=case.layout,
                                       dtype=np.dtype(case.dtype), force=name)
        except ValueError:
            continue
        names.append(name)
    return names
