"""threadpoolctl sees and limits gconv's thread pool; gconv.threads keeps working.

gconv passes its own count to every OpenMP region, so threadpoolctl's
OpenMP controller (omp_set_num_threads) alone would not limit it: gconv
registers a controller for its extension module (gconv/_threadpoolctl.py).
"""

import doctest
import os
import subprocess
import sys
import textwrap

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.1")

import gconv  # noqa: E402
from gconv import _core, _threadpoolctl  # noqa: E402


def gconv_pools():
    return [info for info in threadpoolctl.threadpool_info() if info["internal_api"] == "gconv"]


def run_python(code, **env):
    """Runs ``code`` in a fresh interpreter; its stdout, or the failure."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_threadpool_info_lists_gconv_pool_once(restore_threads):
    gconv.set_num_threads(3)
    pools = gconv_pools()
    assert len(pools) == 1
    pool = pools[0]
    assert pool["user_api"] == "openmp"
    assert pool["num_threads"] == 3
    assert pool["version"] == gconv.__version__
    assert os.path.samefile(pool["filepath"], _core.__file__)
    assert pool["threading_layer"] == ("openmp" if gconv.build_info()["openmp"] else "none")


@pytest.mark.parametrize("user_api", [None, "openmp"])
def test_threadpool_limits_limits_gconv_and_restores_it(user_api, restore_threads):
    gconv.set_num_threads(3)
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        assert gconv.get_num_threads() == 1
        assert gconv_pools()[0]["num_threads"] == 1
    assert gconv.get_num_threads() == 3


def test_blas_limits_leave_gconv_alone(restore_threads):
    gconv.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert gconv.get_num_threads() == 2


def test_gconv_alone_is_limited_by_internal_api_or_file_path(restore_threads):
    gconv.set_num_threads(2)
    controller = threadpoolctl.ThreadpoolController()
    with controller.select(internal_api="gconv").limit(limits=1):
        assert gconv.get_num_threads() == 1
    with threadpoolctl.threadpool_limits({gconv_pools()[0]["filepath"]: 1}):
        assert gconv.get_num_threads() == 1
    assert gconv.get_num_threads() == 2


def test_gconv_threads_works_inside_threadpool_limits(restore_threads):
    gconv.set_num_threads(3)
    with threadpoolctl.threadpool_limits(1):
        with gconv.threads(2):
            assert gconv.get_num_threads() == 2
            assert gconv_pools()[0]["num_threads"] == 2
        assert gconv.get_num_threads() == 1
    assert gconv.get_num_threads() == 3


def test_registration_works_when_threadpoolctl_was_imported_first():
    out = run_python("""
        import threadpoolctl
        threadpoolctl.threadpool_info()       # caches the libraries seen so far
        import gconv
        print(sorted(i["internal_api"] for i in threadpoolctl.threadpool_info()))
    """)
    assert "'gconv'" in out


def test_another_extension_named_like_gconv_core_is_not_taken_for_it(tmp_path):
    # A copy of the extension, loaded as a plain shared library, has the same
    # file name and the same symbols, but is not the module gconv calls.
    impostor = tmp_path / os.path.basename(_core.__file__)
    impostor.write_bytes(open(_core.__file__, "rb").read())
    out = run_python(f"""
        import ctypes, os, threadpoolctl, gconv
        ctypes.CDLL({str(impostor)!r})
        paths = [i["filepath"] for i in threadpoolctl.threadpool_info()
                 if i["internal_api"] == "gconv"]
        print(len(paths), os.path.samefile(paths[0], gconv._core.__file__))
    """)
    assert out == "1 True"


def test_gconv_imports_without_threadpoolctl_or_dask():
    out = run_python("""
        import sys
        sys.modules["threadpoolctl"] = None   # makes `import threadpoolctl` fail
        import gconv
        import numpy as np
        y = gconv.conv2d(np.ones((1, 2, 4, 4), np.float32), np.ones((2, 1, 3, 3), np.float32),
                         groups=2)
        print(gconv._threadpoolctl.REGISTERED, float(y.sum()),
              any(name == "dask" or name.startswith("dask.") for name in sys.modules))
    """)
    assert out == "False 72.0 False"


def test_docstring_examples_run():
    assert doctest.testmod(_threadpoolctl).failed == 0
